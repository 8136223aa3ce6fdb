"""What the OpenAPI schema says about every operation that the views cannot say one by one.

Every operation can answer 401 (no or bad credentials), 403 (no role, or not this action),
429 (API_THROTTLE_USER) and 503 (the database or MLflow is down: gateway_project/errors.py);
one with parameters or a body also 400; one with a path parameter or pages also 404; one with
a body also 415 (JSON only). Each error body is `{"detail": ...}` or field -> messages.
tests/test_openapi_conformance.py checks the schema against the running code.
"""
ERROR_SCHEMA = {
    "type": "object",
    "description": "`detail` says what went wrong; a validation error maps each field to its messages.",
    "properties": {"detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}},
    "additionalProperties": True,
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}
DESCRIPTIONS = {
    "400": "The request is not valid (the body says which field, or why).",
    "401": "No credentials, or a token that is unknown, expired or revoked.",
    "403": "Signed in, but not allowed: no role, or not this action.",
    "404": "No such object (or page), or not one the caller may see.",
    "409": "The object is not in a state that allows this.",
    "415": "The body must be JSON (application/json).",
    "429": "Too many requests for this user (API_THROTTLE_USER); see Retry-After.",
    "503": "The database or MLflow is unavailable; see Retry-After.",
}
# Answers that carry Retry-After.
RETRY_AFTER = {"429", "503"}


def _errors_for(path: str, operation: dict) -> list[str]:
    params = operation.get("parameters", [])
    codes = ["401", "403", "429", "503"]
    if params or "requestBody" in operation:
        codes.append("400")
    if "{" in path or any(p.get("name") == "page" for p in params):
        codes.append("404")
    if "requestBody" in operation:
        codes.append("415")
    return codes


# Request bodies whose serializer refuses unknown fields (ReleaseCreateSerializer.to_internal_value).
STRICT_COMPONENTS = {"ReleaseCreate"}
# No NUL: RejectNulMiddleware refuses one in a URL, DRF's CharField in a body.
NO_NUL = "^[^\\x00]*$"


def add_error_responses(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in STRICT_COMPONENTS & schemas.keys():
        schemas[name]["additionalProperties"] = False
    for component in schemas.values():
        properties = component.get("properties", {})
        for prop in properties.values():  # DRF's CharField refuses NUL (ProhibitNullCharactersValidator)
            plain = not {"pattern", "enum", "format", "readOnly"} & prop.keys()
            if prop.get("type") == "string" and plain:
                prop["pattern"] = NO_NUL
        if {"model_version", "model_alias"} <= properties.keys() and not properties["model_alias"].get("readOnly"):
            # ModelReferenceSerializer.validate: exactly one of the two
            component["oneOf"] = [{"required": ["model_version"]}, {"required": ["model_alias"]}]
    for path, methods in result.get("paths", {}).items():
        for method, operation in methods.items():
            if method.startswith("x-") or not isinstance(operation, dict):
                continue
            for param in operation.get("parameters", []):
                schema = param.get("schema", {})
                if schema.get("type") == "string" and "pattern" not in schema and "enum" not in schema:
                    schema["pattern"] = NO_NUL
            responses = operation.setdefault("responses", {})
            for code in _errors_for(path, operation):
                responses.setdefault(code, {"description": DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code[0] in "45":
                    if not response.get("content"):  # declared as None in a view: it still has a JSON body
                        response["content"] = {"application/json": {"schema": ERROR_REF}}
                    if response.get("description") in ("", "No response body"):
                        response["description"] = DESCRIPTIONS.get(code, "An error.")
                if code in RETRY_AFTER:
                    response.setdefault("headers", {})["Retry-After"] = {
                        "schema": {"type": "integer"}, "description": "Seconds to wait before trying again."}
    return result
