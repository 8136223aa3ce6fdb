// How the portal gets into a page: a shadow root, so the host's styles (class *and* element selectors)
// cannot reach it, and its styles cannot reach the host. Its CSS Modules are adopted into that root as
// strings (?inline), never added to the document.
import { createRoot } from 'react-dom/client';
import { App } from './App.jsx';
import rootStyles from './Root.module.css';

const moduleCss = import.meta.glob('./**/*.module.css', { query: '?inline', import: 'default', eager: true });
const CSS_TEXT = Object.keys(moduleCss).sort().map((k) => moduleCss[k]).join('\n');

let sharedSheet = null;

function adoptStyles(shadow) {
  const constructable = typeof CSSStyleSheet === 'function' && 'replaceSync' in CSSStyleSheet.prototype
    && 'adoptedStyleSheets' in shadow;
  if (constructable) {
    if (!sharedSheet) {
      sharedSheet = new CSSStyleSheet();
      sharedSheet.replaceSync(CSS_TEXT);
    }
    shadow.adoptedStyleSheets = [sharedSheet];
  } else {
    const style = document.createElement('style');
    style.textContent = CSS_TEXT;
    shadow.appendChild(style);
  }
}

const DEFAULTS = { apiBase: '', basePath: '/', routing: 'memory', embed: false, pollSeconds: 2, adminUrl: '' };

/** Mount the portal into `element` (any element of the host page). Returns { unmount }. */
export function mount(element, options = {}) {
  const shadow = element.shadowRoot || element.attachShadow({ mode: 'open' });
  adoptStyles(shadow);
  const container = document.createElement('div');
  container.className = rootStyles.root;
  shadow.appendChild(container);
  const root = createRoot(container);
  root.render(<App options={{ ...DEFAULTS, ...options }} />);
  return {
    unmount() {
      root.unmount();
      container.remove();
    },
  };
}

function optionsOf(el) {
  let options = {};
  try {
    options = JSON.parse(el.getAttribute('options') || '{}');
  } catch {
    options = {};
  }
  for (const [attr, key] of [['api-base', 'apiBase'], ['base-path', 'basePath'], ['routing', 'routing']]) {
    if (el.hasAttribute(attr)) options[key] = el.getAttribute(attr);
  }
  if (options.basePath && !el.hasAttribute('routing') && options.routing === undefined) options.routing = 'history';
  return options;
}

export function defineElement(name = 'release-gateway') {
  if (customElements.get(name)) return;
  customElements.define(name, class extends HTMLElement {
    connectedCallback() {
      if (!this.handle) this.handle = mount(this, optionsOf(this));
    }

    disconnectedCallback() {
      this.handle?.unmount();
      this.handle = null;
    }
  });
}
