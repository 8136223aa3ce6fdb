"""Release evidence (issue 13): the signed in-toto attestation and the CycloneDX SBOM of a SUCCEEDED release.

- canonical: the one canonical JSON form and the digests of stored records (scan report, policy);
- keys: the gateway's Ed25519 signing key (from settings, never from the database) and key ids;
- dsse: DSSE envelopes (PAE, signing) and `verify_envelope`, the one verification function;
- statement / sbom: what the attestation and the SBOM say, read from the record;
- attest: writes both inside the SUCCEEDED transaction; push: takes them to the registry;
- stored: `verify_stored(release)` for the admin page.
"""
