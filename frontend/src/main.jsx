// The portal's one entry: defines <release-gateway> and exports mount(element, options) for IDP pages.
import { defineElement, mount } from './embed.jsx';

defineElement();

export { mount };
