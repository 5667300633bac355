"""Checks signet's CustomResourceDefinitions the way the API server would, as far as it can
offline (no API server runs here):

1. every CRD is apiextensions.k8s.io/v1 with names, scope, one storage version, the status
   subresource and printer columns;
2. every openAPIV3Schema is a structural schema (Kubernetes "Specifying a structural schema"):
   every node has a type, except under x-kubernetes-int-or-string or
   x-kubernetes-preserve-unknown-fields; properties and additionalProperties are not both set;
   the value validations under allOf/anyOf/oneOf/not set no type, description, default,
   additionalProperties or nullable and name only properties the structure declares; the one
   exception is an x-kubernetes-int-or-string node's `anyOf: [{type: integer}, {type: string}]`
   (alone or as allOf[0]), exactly that and nothing more (the API server refuses `minimum` or
   `enum` inside it: constrain such a field with x-kubernetes-validations instead); metadata
   restricts only name and generateName;
3. every example document validates against its CRD's schema with JSON Schema (Draft 4 subset
   of OpenAPI v3), where unknown fields are errors (what pruning plus kubectl's strict field
   validation do).

Usage: crd_check.py CRD_DIR EXAMPLE_FILE_OR_DIR... ; prints one line per problem, exits 1 on any.
"""
import copy
import glob
import os
import sys

import jsonschema
import yaml

problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


JUNCTOR_FORBIDDEN = {"type", "description", "default", "additionalProperties", "nullable"}


# The only junctor an int-or-string node may carry with types in it (apiextensions
# structural validation, isIntOrStringAnyOfPattern), compared exactly.
INT_OR_STRING_ANY_OF = [{"type": "integer"}, {"type": "string"}]


def is_int_or_string_pattern(node):
    return node.get("anyOf") == INT_OR_STRING_ANY_OF


def check_junctor(node, where, declared):
    if not isinstance(node, dict):
        return
    for key in JUNCTOR_FORBIDDEN & set(node):
        problem(where, f"'{key}' is not allowed inside allOf/anyOf/oneOf/not")
    for name in node.get("required", []):
        if name not in declared:
            problem(where, f"junctor requires '{name}', which the structure does not declare")
    for name in node.get("properties", {}):
        if name not in declared:
            problem(where, f"junctor names property '{name}', which the structure does not declare")
    for junctor in ("allOf", "anyOf", "oneOf"):
        for index, child in enumerate(node.get(junctor, [])):
            check_junctor(child, f"{where}.{junctor}[{index}]", declared)
    if "not" in node:
        check_junctor(node["not"], f"{where}.not", declared)


def check_structural(node, where, is_metadata=False):
    if not isinstance(node, dict):
        problem(where, "schema node is not an object")
        return
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    if "type" not in node and not (preserve or int_or_string):
        problem(where, "no type (structural schemas need one on every node)")
    if "properties" in node and "additionalProperties" in node:
        problem(where, "both properties and additionalProperties")
    if preserve and "description" not in node and where.count(".") > 4:
        problem(where, "a preserve-unknown-fields object should say what it holds")
    declared = set(node.get("properties", {}))
    for junctor in ("allOf", "anyOf", "oneOf"):
        for index, child in enumerate(node.get(junctor, [])):
            if int_or_string and junctor == "anyOf" and is_int_or_string_pattern(node):
                continue
            if int_or_string and junctor == "allOf" and index == 0 and isinstance(child, dict) \
                    and is_int_or_string_pattern(child) and set(child) == {"anyOf"}:
                continue
            check_junctor(child, f"{where}.{junctor}[{index}]", declared)
    if "not" in node:
        check_junctor(node["not"], f"{where}.not", declared)
    if is_metadata:
        extra = set(node.get("properties", {})) - {"name", "generateName"}
        if extra:
            problem(where, f"metadata may only restrict name and generateName, found {sorted(extra)}")
    for name, child in node.get("properties", {}).items():
        check_structural(child, f"{where}.properties.{name}", is_metadata=(where.endswith("openAPIV3Schema") and name == "metadata"))
    if isinstance(node.get("additionalProperties"), dict):
        check_structural(node["additionalProperties"], f"{where}.additionalProperties")
    if "items" in node:
        check_structural(node["items"], f"{where}.items")


def strict(schema):
    """The schema as JSON Schema, with unknown fields refused where Kubernetes would prune."""
    schema = copy.deepcopy(schema)

    def walk(node, is_metadata=False):
        if not isinstance(node, dict):
            return
        if node.get("type") == "object" and "properties" in node and not is_metadata \
                and not node.get("x-kubernetes-preserve-unknown-fields"):
            node["additionalProperties"] = False
        for name, child in node.get("properties", {}).items():
            walk(child, is_metadata=(name == "metadata"))
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key])
    walk(schema)
    return schema


def load_crds(directory):
    crds = {}
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path) as handle:
            crd = yaml.safe_load(handle)
        name = os.path.basename(path)
        if crd.get("apiVersion") != "apiextensions.k8s.io/v1" or crd.get("kind") != "CustomResourceDefinition":
            problem(name, "not an apiextensions.k8s.io/v1 CustomResourceDefinition")
            continue
        spec = crd["spec"]
        names = spec.get("names", {})
        for field in ("kind", "plural", "singular", "listKind", "shortNames"):
            if not names.get(field):
                problem(name, f"spec.names.{field} is missing")
        if crd["metadata"]["name"] != f"{names.get('plural')}.{spec.get('group')}":
            problem(name, "metadata.name must be <plural>.<group>")
        if spec.get("scope") not in ("Cluster", "Namespaced"):
            problem(name, "spec.scope must be Cluster or Namespaced")
        versions = spec.get("versions", [])
        if sum(1 for version in versions if version.get("storage")) != 1:
            problem(name, "exactly one version must be the storage version")
        for version in versions:
            where = f"{name} {version['name']}"
            if version.get("subresources", {}).get("status") != {}:
                problem(where, "no status subresource")
            if not version.get("additionalPrinterColumns"):
                problem(where, "no printer columns")
            for column in version.get("additionalPrinterColumns", []):
                if column.get("type") not in ("integer", "number", "string", "boolean", "date"):
                    problem(where, f"printer column {column.get('name')} has an invalid type")
                if not str(column.get("jsonPath", "")).startswith("."):
                    problem(where, f"printer column {column.get('name')} has an invalid jsonPath")
                # kubectl prints a date column as an age: "<invalid>" for an instant ahead.
                if column.get("type") == "date" and column.get("jsonPath") != ".metadata.creationTimestamp":
                    problem(where, f"printer column {column.get('name')} is a date (printed as an age); "
                                   "use a string for an instant that may lie ahead")
            schema = version.get("schema", {}).get("openAPIV3Schema")
            if schema is None:
                problem(where, "no openAPIV3Schema")
                continue
            check_structural(schema, f"{where} openAPIV3Schema")
            crds[(f"{spec['group']}/{version['name']}", names["kind"])] = (spec["scope"], schema)
    return crds


def examples(paths):
    for path in paths:
        files = sorted(glob.glob(os.path.join(path, "*.yaml"))) if os.path.isdir(path) else [path]
        for file in files:
            with open(file) as handle:
                for index, document in enumerate(yaml.safe_load_all(handle)):
                    if document:
                        yield f"{file}, document {index + 1}", document


def main():
    crds = load_crds(sys.argv[1])
    checked = 0
    for where, document in examples(sys.argv[2:]):
        key = (document.get("apiVersion"), document.get("kind"))
        if key not in crds:
            problem(where, f"no CRD serves {key[0]} {key[1]}")
            continue
        scope, schema = crds[key]
        if scope == "Namespaced" and not document.get("metadata", {}).get("namespace"):
            problem(where, "a namespaced example needs metadata.namespace")
        validator = jsonschema.Draft4Validator(strict(schema), format_checker=jsonschema.FormatChecker())
        for error in validator.iter_errors(document):
            path = ".".join(str(part) for part in error.absolute_path)
            problem(where, f"{path}: {error.message}")
        checked += 1
    for line in problems:
        print(line)
    print(f"checked {len(crds)} CRD versions and {checked} documents, {len(problems)} problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
