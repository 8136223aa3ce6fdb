"""The release's SBOM: CycloneDX 1.6 JSON, written with cyclonedx-python-lib from the stored scan report.

- metadata.component: the image (a container, its manifest digest as version and hash);
- the model, a `machine-learning-model` component with its MLflow run and a `file` component per
  fetched file, each with its SHA-256;
- every dependency the scan read, with its purl (pkg:pypi/…, pkg:conda/… for conda packages),
  where it was read (evidence.occurrences: file and line) and its role (property gateway:role:
  runtime, build — python_env.yaml's build_dependencies — or constraint);
- the image's operating system packages (pkg:deb/…, from its dpkg database: Build.os_packages), when the
  builder read them (the local backend does; a files-only image has none);
- every finding as a vulnerability affecting its component, with a VEX analysis state
  (VEX_STATES): a waived finding is `not_affected`, with the waiver's id, reason, approver
  and expiry as detail; a definite finding shipped because the policy let it pass (below the
  threshold, or no fix and ignore_unfixed) is `exploitable`; a possible match on an unpinned
  requirement is `in_triage`.
Size: a report holds at most MAX_DEPENDENCIES (1,000) dependencies and MAX_FINDINGS (5,000)
findings (releases.scanning), so an SBOM is bounded (measured: README); MAX_SBOM_BYTES guards it.
"""
from decimal import Decimal, InvalidOperation

from cyclonedx.model import HashAlgorithm, HashType, Property, XsUri
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.model.impact_analysis import ImpactAnalysisState
from cyclonedx.model.tool import ToolRepository
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityAnalysis,
    VulnerabilityRating,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from releases.models import Build, Finding, Release, ReleaseFile, ScanReport, Waiver

MEDIA_TYPE = "application/vnd.cyclonedx+json"
MAX_SBOM_BYTES = 16 * 1024 * 1024
VEX_STATES = {"waived": ImpactAnalysisState.NOT_AFFECTED, "shipped": ImpactAnalysisState.EXPLOITABLE,
              "possible": ImpactAnalysisState.IN_TRIAGE}
_SEVERITY = {"CRITICAL": VulnerabilitySeverity.CRITICAL, "HIGH": VulnerabilitySeverity.HIGH,
             "MEDIUM": VulnerabilitySeverity.MEDIUM, "LOW": VulnerabilitySeverity.LOW}


class SbomTooLarge(Exception):
    pass


def purl_of(dep: dict) -> PackageURL | None:
    """pkg:pypi/<PEP 503 name>[@pin]; pkg:conda/<conda name>[@pin]. None for URL, VCS and path requirements."""
    if dep.get("kind", "registry") != "registry" or not dep.get("name"):
        return None
    if dep.get("ecosystem") == "conda":
        return PackageURL(type="conda", name=(dep.get("raw_name") or dep["name"]).lower(), version=dep.get("version"))
    return PackageURL(type="pypi", name=dep["name"], version=dep.get("version"))


def _dependency(index: int, dep: dict) -> Component:
    places = [f"{dep['source_file']}:{dep['line']}", *dep.get("also_in", [])]
    occurrences = []
    for place in places[:20]:
        location, _, line = str(place).rpartition(":")
        occurrences.append(Occurrence(location=location or str(place), line=int(line) if line.isdigit() else None))
    properties = [Property(name="gateway:role", value=dep.get("role", "runtime")),
                  Property(name="gateway:specifier", value=dep.get("specifier") or "(any version)")]
    if dep.get("kind", "registry") != "registry":
        properties.append(Property(name="gateway:reference", value=f"{dep['kind']} {dep.get('url', '')}"[:1000]))
    return Component(name=dep.get("name") or dep.get("url") or "unnamed", version=dep.get("version") or None,
                     purl=purl_of(dep), bom_ref=f"dependency-{index}", properties=properties,
                     evidence=ComponentEvidence(occurrences=occurrences))


def _os_components(installed: dict | None) -> list[Component]:
    """pkg:deb/<distro's name>/<package>@<version>?arch=…&distro=… for each package of the image's dpkg database."""
    if not isinstance(installed, dict):
        return []
    distro = str(installed.get("distro") or "")
    namespace = distro.split("-")[0] or "debian"
    components = []
    for index, package in enumerate(installed.get("packages") or []):
        qualifiers = {key: value for key, value in (("arch", package.get("arch")), ("distro", distro)) if value}
        components.append(Component(
            name=package["name"], version=package["version"], type=ComponentType.LIBRARY,
            bom_ref=f"os-package-{index}",
            purl=PackageURL(type="deb", namespace=namespace, name=package["name"], version=package["version"],
                            qualifiers=qualifiers),
            properties=[Property(name="gateway:layer", value="base")]))
    return components


def _model(release: Release) -> Component:
    files = [Component(name=f.name, type=ComponentType.FILE, bom_ref=f"model-file-{f.name}",
                       hashes=[HashType(alg=HashAlgorithm.SHA_256, content=f.sha256)])
             for f in ReleaseFile.objects.filter(release=release).order_by("name").only("name", "sha256")]
    return Component(name=release.model_name, version=release.model_version, type=ComponentType.MACHINE_LEARNING_MODEL,
                     bom_ref="model", components=files,
                     properties=[Property(name="mlflow:run_id", value=release.mlflow_run_id),
                                 Property(name="mlflow:source", value=release.mlflow_source[:1000])])


def _waiver_details(report: ScanReport) -> dict[tuple, str]:
    """(package, advisory id, where) -> the waiver that covered it, as VEX detail."""
    waived = (report.decision or {}).get("waived", [])
    waivers = {w.pk: w for w in Waiver.objects.filter(pk__in={e.get("waiver") for e in waived})
               .select_related("approved_by")}
    details = {}
    for entry in waived:
        waiver = waivers.get(entry.get("waiver"))
        if waiver is None:
            continue
        details[(entry["package"], entry["advisory_id"], entry["where"])] = (
            f"Waiver #{waiver.pk}, approved by {waiver.approved_by.get_username() if waiver.approved_by_id else '?'},"
            f" expires {waiver.expires_at:%Y-%m-%d}: {waiver.reason}")[:2000]
    return details


def _analysis(finding: Finding, waived: dict[tuple, str]) -> VulnerabilityAnalysis:
    detail = waived.get((finding.package, finding.advisory_id, f"{finding.source_file}:{finding.line}"))
    if detail is not None:
        return VulnerabilityAnalysis(state=VEX_STATES["waived"], detail=detail)
    if not finding.definite:
        return VulnerabilityAnalysis(state=VEX_STATES["possible"], detail="Possible match: the requirement is "
                                     f"unpinned ({finding.specifier or 'any version'}); the installed version decides.")
    return VulnerabilityAnalysis(state=VEX_STATES["shipped"], detail="Affected; the release policy let it pass "
                                 "(below its blocking threshold, or no fixed version exists).")


def _rating(finding: Finding) -> VulnerabilityRating:
    score = None
    if finding.score is not None:
        try:
            score = Decimal(str(finding.score))
        except InvalidOperation:
            score = None
    return VulnerabilityRating(severity=_SEVERITY.get(finding.severity, VulnerabilitySeverity.UNKNOWN), score=score)


def _vulnerabilities(report: ScanReport, refs: dict[tuple, str]) -> list[Vulnerability]:
    waived = _waiver_details(report)
    found = []
    for finding in Finding.objects.filter(report=report).order_by("id"):
        ref = refs.get((finding.package, finding.source_file, finding.line))
        found.append(Vulnerability(
            bom_ref=f"finding-{finding.pk}", id=finding.advisory_id, description=finding.summary[:1000] or None,
            source=VulnerabilitySource(name="OSV", url=XsUri(f"https://osv.dev/vulnerability/{finding.advisory_id}")),
            ratings=[_rating(finding)], analysis=_analysis(finding, waived),
            affects=[BomTarget(ref=ref)] if ref else [],
            properties=[Property(name="gateway:alias", value=a) for a in finding.aliases[:20]]))
    return found


def build_sbom(release: Release, build: Build, report: ScanReport | None, subject_name: str) -> str:
    """The SBOM's JSON text (what is stored, served and digested); without a scan report, the model only."""
    scanned = (report.dependencies or []) if report is not None else []
    dependencies = [_dependency(i, dep) for i, dep in enumerate(scanned)]
    refs = {}
    for component, dep in zip(dependencies, scanned, strict=True):
        refs.setdefault((dep.get("name"), dep.get("source_file"), dep.get("line")), component.bom_ref.value)
    image = Component(name=subject_name, version=build.image_digest, type=ComponentType.CONTAINER, bom_ref="image",
                      hashes=[HashType(alg=HashAlgorithm.SHA_256, content=build.image_digest.removeprefix("sha256:"))])
    gateway = Component(name="model-release-gateway", type=ComponentType.APPLICATION, bom_ref="gateway")
    metadata = BomMetaData(component=image, tools=ToolRepository(components=[gateway]),
                           properties=[Property(name="gateway:release", value=str(release.pk)),
                                       Property(name="gateway:scan_report",
                                                value=str(report.pk) if report else "none")])
    model = _model(release)
    system = _os_components(build.os_packages)
    bom = Bom(components=[model, *dependencies, *system], metadata=metadata,
              vulnerabilities=_vulnerabilities(report, refs) if report is not None else [])
    # the image holds the model, what it installs and its base's packages
    bom.register_dependency(image, [model, *dependencies, *system])
    text = JsonV1Dot6(bom).output_as_string()
    if len(text.encode()) > MAX_SBOM_BYTES:
        raise SbomTooLarge(f"The SBOM is over {MAX_SBOM_BYTES} bytes.")
    return text
