#!/usr/bin/env python3
"""Validate the Kubernetes manifests under infra/ (run by .ci/validate-manifests).

Every YAML document found under <root>/infra (kustomization files, kustomize
patch files and infra/terraform excepted) is validated with a real schema:

* built-in kinds (every group/version/kind that the pinned Kubernetes version
  serves, e.g. v1 ConfigMap, batch/v1 Job, networking.k8s.io/v1 NetworkPolicy)
  with kubernetes-validate in strict mode (unknown fields are errors);
* custom resources against the CRD JSON Schemas in
  <crd-dir>/<group>/<kind lowercase>_<version>.json, e.g.
  serving.knative.dev/v1 Service -> serving.knative.dev/service_v1.json,
  with jsonschema. Those files are CRD openAPIV3Schema converted to JSON
  Schema, with additionalProperties: false added to every object; the
  x-kubernetes-* extensions are honoured: preserve-unknown-fields lifts the
  additionalProperties ban (not for *.knative.dev, whose webhooks decode
  strictly), int-or-string accepts both, list-type set/map
  rejects duplicate entries, format int32/int64 checks ranges, Go regex
  patterns are translated for Python (or fail the value). CEL rules
  (x-kubernetes-validations) are not evaluated. The CRD schemas describe
  metadata as a bare object, so it is checked against the strict ObjectMeta
  schema of the pinned Kubernetes version instead.

Anything else fails: a missing CRD schema folder, a custom resource with no
schema, a kind unknown to its built-in API group, a document without
apiVersion/kind. Nothing is skipped.

Also checked: metadata.name and label values follow the API server's naming
rules; duplicate YAML keys (kubectl rejects them, PyYAML would keep the last);
every file in a kustomization's services/ and eventing/ folders is listed in
its resources; every Knative Eventing Broker and Trigger has a delivery spec
(spec.delivery with retry >= 1, backoffPolicy linear or exponential, an
ISO-8601 backoffDelay and a deadLetterSink with a ref or uri), so no event is
dropped silently after a failed delivery; and, where kubectl (or kustomize) is
installed, each kustomization builds and its rendered documents pass the same
validation.

infra/lambda holds AWS SAM / CloudFormation templates, not Kubernetes
manifests: they are parsed with the CloudFormation short tags (!Ref, !Sub,
...) and duplicate keys rejected, and checked for what the event path relies
on: every SQS event source reports batch item failures, every SQS queue with a
redrive policy names a dead-letter target and a maxReceiveCount, and every
schedule Input is valid JSON.

--self-test runs negative controls: it copies infra/ to a temporary folder,
breaks one thing at a time (a typo'd field, a wrong type, an unknown kind, a
missing schema, a Trigger without retry or dead-letter sink, ...) and requires
the validator to reject each copy, after a positive control showing that the
untouched copy passes.
"""

import argparse
import base64
import copy
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import yaml
from referencing import Registry, Resource

import kubernetes_validate
from kubernetes_validate import utils as kv_utils

OBJECT_META_REF = (
    "https://kubernetes.io/api/_definitions.json"
    "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
)
KUSTOMIZATION_NAMES = {"kustomization.yaml", "kustomization.yml", "Kustomization"}
YAML_SUFFIXES = {".yaml", ".yml"}
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Groups whose admission webhooks reject unknown fields even where the CRD
# schema says x-kubernetes-preserve-unknown-fields (knative.dev/pkg webhooks).
STRICT_DECODING_GROUPS = re.compile(r"(^|\.)knative\.dev$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# Folders (beside a kustomization) whose every file must be in its resources.
LISTED_FOLDERS = ("services", "eventing")
# Kinds that must carry a complete delivery spec (see delivery_policy_errors).
DELIVERY_KINDS = {("eventing.knative.dev", "Broker"), ("eventing.knative.dev", "Trigger")}
BACKOFF_POLICIES = ("linear", "exponential")
# ISO-8601 duration as Knative parses backoffDelay (e.g. PT0.5S, PT1S, PT2M).
ISO8601_DURATION = re.compile(
    r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?"
    r"(T(?=\d)(\d+H)?(\d+M)?(\d+(?:[.,]\d+)?S)?)?$")


class ManifestError(Exception):
    """A document failed validation; args[0] is a list of messages."""


# --------------------------------------------------------------------------- YAML


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys, as kubectl does."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    "found duplicate key %r" % (key,), key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# '=' as a plain scalar (see PyYAML issue 89); kubernetes-validate does the same.
StrictLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: str(node.value))


def load_documents(text):
    return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc is not None]


# ------------------------------------------------------------------ validation


def error_path(err):
    out = ""
    for part in err.absolute_path:
        out += "[%d]" % part if isinstance(part, int) else ("." if out else "") + str(part)
    return out or "(root)"


def _int_range(bits):
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def check(value):
        return not isinstance(value, int) or isinstance(value, bool) or low <= value <= high
    return check


def _is_base64(value):
    if not isinstance(value, str):
        return True
    try:
        base64.b64decode(value, validate=True)
        return True
    except ValueError:
        return False


FORMAT_CHECKER = jsonschema.FormatChecker()
FORMAT_CHECKER.checks("int32")(_int_range(32))
FORMAT_CHECKER.checks("int64")(_int_range(64))
FORMAT_CHECKER.checks("byte")(_is_base64)


def _list_type(validator, list_type, instance, schema):
    """x-kubernetes-list-type: set and map lists may not hold duplicates."""
    if not validator.is_type(instance, "array") or list_type not in ("set", "map"):
        return
    seen = {}
    keys = schema.get("x-kubernetes-list-map-keys", [])
    for index, item in enumerate(instance):
        if list_type == "set":
            ident = json.dumps(item, sort_keys=True)
            what = "value %s" % ident
        else:
            if not isinstance(item, dict):
                continue
            ident = json.dumps([item.get(k) for k in keys])
            what = "key " + ", ".join("%s=%s" % (k, json.dumps(item.get(k))) for k in keys)
        if ident in seen:
            yield jsonschema.ValidationError(
                "duplicate entry (%s) at [%d] and [%d] of a list-type=%s list"
                % (what, seen[ident], index, list_type))
        else:
            seen[ident] = index


def _untranslatable_pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string"):
        yield jsonschema.ValidationError(
            "the CRD pattern %r (Go RE2) has no Python equivalent here, so this value cannot be "
            "checked" % pattern)


CRDValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"x-kubernetes-list-type": _list_type, "x-ticketgw-go-pattern": _untranslatable_pattern})

_INLINE_FLAGS = re.compile(r"\(\?([ims]+)\)")


def _go_pattern(pattern):
    """Translate a Go RE2 pattern for Python's re, or return None.

    CRD patterns are Go regular expressions. The one difference met in the
    schemas is an inline flag group such as (?i) after the start, which Go
    applies to the rest of the enclosing group and Python refuses; it becomes
    the scoped (?i:...) over the same span.
    """
    try:
        re.compile(pattern)
        return pattern
    except re.error:
        pass
    out = pattern.replace("\\z", "\\Z")
    while True:
        match = next((m for m in _INLINE_FLAGS.finditer(out) if m.start() > 0 and out[m.start() - 1] != "\\"), None)
        if match is None:
            break
        depth, i, in_class = 0, match.end(), False
        while i < len(out):
            char = out[i]
            if char == "\\":
                i += 2
                continue
            if in_class:
                in_class = char != "]"
            elif char == "[":
                in_class = True
            elif char == "(":
                depth += 1
            elif char == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        out = "%s(?%s:%s)%s" % (out[:match.start()], match.group(1), out[match.end():i], out[i:])
    try:
        re.compile(out)
        return out
    except re.error:
        return None


def _normalise_crd_schema(node, strict_decoding):
    """Apply the meaning of the x-kubernetes-* extensions to a schema node, in place.

    preserve-unknown-fields makes the API server keep unknown fields, so the
    additionalProperties ban added by the schema conversion is lifted, except
    for groups whose admission webhook decodes strictly (strict_decoding):
    Knative's webhooks reject fields their Go types do not have.
    """
    if not isinstance(node, dict):
        return
    if (not strict_decoding and node.get("x-kubernetes-preserve-unknown-fields") is True
            and node.get("additionalProperties") is False):
        del node["additionalProperties"]
    if node.get("x-kubernetes-int-or-string") is True and not any(k in node for k in ("type", "anyOf", "oneOf")):
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") is True and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if isinstance(node.get("pattern"), str):
        translated = _go_pattern(node["pattern"])
        if translated is None:
            node["x-ticketgw-go-pattern"] = node.pop("pattern")
        else:
            node["pattern"] = translated
    for child in (node.get("properties") or {}).values():
        _normalise_crd_schema(child, strict_decoding)
    for key in ("items", "additionalProperties", "not"):
        _normalise_crd_schema(node.get(key), strict_decoding)
    for key in ("anyOf", "oneOf", "allOf"):
        for child in node.get(key) or []:
            _normalise_crd_schema(child, strict_decoding)


class Validator:
    def __init__(self, crd_dir, k8s_version):
        self.crd_dir = Path(crd_dir)
        if not self.crd_dir.is_dir():
            raise SystemExit("FAIL CRD schema folder not found: %s (set SHARED_DIR to the folder "
                             "holding schemas/crds)" % self.crd_dir)
        self.k8s_version = k8s_version
        versions = [v for v in kv_utils.all_versions()
                    if kv_utils.major_minor(v) <= kv_utils.major_minor(k8s_version)]
        if kv_utils.major_minor(k8s_version) not in {kv_utils.major_minor(v) for v in versions}:
            raise SystemExit("FAIL kubernetes-validate %s has no schemas for Kubernetes %s"
                             % (kubernetes_validate.__version__, k8s_version))
        defs = kv_utils.schema_contents(
            "kubernetes-json-schema/v%s-local-strict/_definitions.json" % versions[-1], k8s_version)
        self.builtin_gvks = set()
        for definition in defs["$defs"].values():
            for gvk in definition.get("x-kubernetes-group-version-kind", []):
                self.builtin_gvks.add((gvk["group"], gvk["version"], gvk["kind"]))
        self.builtin_groups = {g for g, _, _ in self.builtin_gvks}
        self.registry = Resource.from_contents(defs) @ Registry()
        self.crd_validators = {}

    def _crd_validator(self, path, group):
        if path not in self.crd_validators:
            schema = json.loads(path.read_text())
            _normalise_crd_schema(schema, strict_decoding=STRICT_DECODING_GROUPS.search(group) is not None)
            props = schema.setdefault("properties", {})
            props["metadata"] = {"$ref": OBJECT_META_REF}
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
            self.crd_validators[path] = CRDValidator(
                schema, registry=self.registry, format_checker=FORMAT_CHECKER)
        return self.crd_validators[path]

    def validate(self, doc):
        """Return a short description of the schema used, or raise ManifestError."""
        if not isinstance(doc, dict):
            raise ManifestError(["document is a %s, not a mapping" % type(doc).__name__])
        api_version, kind = doc.get("apiVersion"), doc.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
            raise ManifestError(["apiVersion and kind must both be set to strings"])
        group, _, version = api_version.rpartition("/")
        errors = self._naming_errors(doc)

        if (group, version, kind) in self.builtin_gvks:
            used = "kubernetes-validate %s, Kubernetes %s, strict" % (
                kubernetes_validate.__version__, self.k8s_version)
            try:
                kubernetes_validate.validate(doc, self.k8s_version, strict=True)
            except kubernetes_validate.ValidationError as err:
                errors.insert(0, "%s: %s" % (error_path(err), err.message))
            except kubernetes_validate.SchemaNotFoundError as err:
                errors.insert(0, err.message)
        elif group in self.builtin_groups:
            raise ManifestError(["unknown kind: Kubernetes %s serves no %s in %s"
                                 % (self.k8s_version, kind, api_version)])
        else:
            path = self.crd_dir / group / ("%s_%s.json" % (kind.lower(), version))
            if not path.is_file():
                raise ManifestError(["unknown kind: no CRD schema for %s %s (expected %s)"
                                     % (api_version, kind, path)])
            used = "CRD schema %s/%s" % (group, path.name)
            validator = self._crd_validator(path, group)
            schema_errors = sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
            errors = ["%s: %s" % (error_path(e), e.message) for e in schema_errors] + errors
        if errors:
            raise ManifestError(errors)
        return used

    @staticmethod
    def _naming_errors(doc):
        errors = []
        meta = doc.get("metadata")
        if not isinstance(meta, dict):
            return ["metadata: required"]
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            errors.append("metadata.name: required")
        elif doc.get("kind") == "Service" and (len(name) > 63 or not DNS1035_LABEL.match(name)):
            errors.append("metadata.name: %r is not a DNS-1035 label (a-z, 0-9, '-', max 63)" % name)
        elif len(name) > 253 or not DNS1123_SUBDOMAIN.match(name):
            errors.append("metadata.name: %r is not a DNS-1123 subdomain" % name)
        label_sets = [("metadata.labels", meta.get("labels"))]
        template_meta = _dig(doc, "spec", "template", "metadata")
        if isinstance(template_meta, dict):
            label_sets.append(("spec.template.metadata.labels", template_meta.get("labels")))
        for where, labels in label_sets:
            if not isinstance(labels, dict):
                continue
            for key, value in labels.items():
                if isinstance(value, str) and (len(value) > 63 or not LABEL_VALUE.match(value)):
                    errors.append("%s.%s: %r is not a valid label value" % (where, key, value))
        return errors


def delivery_policy_errors(doc, source):
    """Broker and Trigger must say how failed deliveries are retried and where they end up.

    Without spec.delivery an event the subscriber refuses is dropped after the
    broker's defaults (or at once), unseen. Required: retry (an integer >= 1),
    backoffPolicy (linear or exponential), backoffDelay (an ISO-8601 duration
    such as PT0.5S) and deadLetterSink (a ref with apiVersion, kind and name, or
    an absolute uri). source names the file, so the message says where to fix it.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("apiVersion"), str):
        return []
    group = doc["apiVersion"].rpartition("/")[0]
    kind = doc.get("kind")
    if (group, kind) not in DELIVERY_KINDS:
        return []
    name = _dig(doc, "metadata", "name") or "?"
    where = "delivery policy: %s %s in %s" % (kind, name, source)
    delivery = _dig(doc, "spec", "delivery")
    if not isinstance(delivery, dict):
        return ["%s: spec.delivery is missing (every Broker and Trigger needs retry, backoffPolicy, "
                "backoffDelay and deadLetterSink)" % where]
    errors = []
    retry = delivery.get("retry")
    if retry is None:
        errors.append("%s: spec.delivery.retry is missing (an integer >= 1)" % where)
    elif isinstance(retry, bool) or not isinstance(retry, int) or retry < 1:
        errors.append("%s: spec.delivery.retry must be an integer >= 1, not %r" % (where, retry))
    policy = delivery.get("backoffPolicy")
    if policy is None:
        errors.append("%s: spec.delivery.backoffPolicy is missing (%s)" % (where, " or ".join(BACKOFF_POLICIES)))
    elif policy not in BACKOFF_POLICIES:
        errors.append("%s: spec.delivery.backoffPolicy must be %s, not %r"
                      % (where, " or ".join(BACKOFF_POLICIES), policy))
    delay = delivery.get("backoffDelay")
    if delay is None:
        errors.append("%s: spec.delivery.backoffDelay is missing (an ISO-8601 duration, e.g. PT0.5S)" % where)
    elif not isinstance(delay, str) or not ISO8601_DURATION.match(delay):
        errors.append("%s: spec.delivery.backoffDelay %r is not an ISO-8601 duration (e.g. PT0.5S)"
                      % (where, delay))
    sink = delivery.get("deadLetterSink")
    if sink is None:
        errors.append("%s: spec.delivery.deadLetterSink is missing (events that exhaust their retries "
                      "would be dropped)" % where)
    else:
        ref = sink.get("ref") if isinstance(sink, dict) else None
        uri = sink.get("uri") if isinstance(sink, dict) else None
        ref_ok = isinstance(ref, dict) and all(isinstance(ref.get(k), str) and ref.get(k)
                                               for k in ("apiVersion", "kind", "name"))
        absolute_uri = isinstance(uri, str) and bool(urlsplit(uri).scheme) and bool(urlsplit(uri).netloc)
        if not (ref_ok or (ref is None and absolute_uri)):
            errors.append("%s: spec.delivery.deadLetterSink needs a ref (apiVersion, kind, name) or an "
                          "absolute uri" % where)
    return errors


def _dig(node, *keys):
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


# ------------------------------------------------------------------ collection


def kustomizations(infra):
    for path in sorted(infra.rglob("*")):
        if path.name in KUSTOMIZATION_NAMES and path.is_file() and not _excluded_dir(infra, path):
            yield path


# Folders under infra/ that hold no Kubernetes manifests (checked separately, if at all).
NON_KUBERNETES_DIRS = ("terraform", "lambda")


def _excluded_dir(infra, path):
    rel = path.relative_to(infra)
    return rel.parts[0] in NON_KUBERNETES_DIRS or any(part.startswith(".") for part in rel.parts[:-1])


# ------------------------------------------------------------ AWS SAM templates


class CloudFormationLoader(StrictLoader):
    """StrictLoader that accepts CloudFormation's short tags (!Ref, !Sub, !If, ...)."""


def _cfn_tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Fn::" + suffix if suffix not in ("Ref", "Condition") else suffix: value}


CloudFormationLoader.add_multi_constructor("!", _cfn_tag)


def lambda_template_errors(path):
    """What infra/lambda templates must get right (see the module docstring)."""
    try:
        doc = yaml.load(path.read_text(), Loader=CloudFormationLoader)
    except yaml.YAMLError as err:
        return ["YAML: %s" % str(err).replace("\n", " ")]
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict) or not doc["Resources"]:
        return ["not a CloudFormation template: no Resources mapping"]
    errors = []
    for name, res in doc["Resources"].items():
        if not isinstance(res, dict):
            errors.append("%s: not a mapping" % name)
            continue
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::SQS::Queue" and "RedrivePolicy" in props:
            redrive = props["RedrivePolicy"] or {}
            for key in ("deadLetterTargetArn", "maxReceiveCount"):
                if key not in redrive:
                    errors.append("%s: RedrivePolicy.%s is missing" % (name, key))
        if res.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (props.get("Events") or {}).items():
            event_props = (event or {}).get("Properties") or {}
            where = "%s.Events.%s" % (name, event_name)
            if event.get("Type") == "SQS" and "ReportBatchItemFailures" not in (
                    event_props.get("FunctionResponseTypes") or []):
                errors.append("%s: SQS event without FunctionResponseTypes: [ReportBatchItemFailures] "
                              "(one failed record would make SQS redeliver the whole batch)" % where)
            if "Input" in event_props:
                raw = event_props["Input"]
                # !Sub "...${Param}...": validate the text with each
                # substitution as a plain word.
                if isinstance(raw, dict) and isinstance(raw.get("Fn::Sub"), str):
                    raw = re.sub(r"\$\{[^}]*\}", "x", raw["Fn::Sub"])
                try:
                    json.loads(raw)
                except (TypeError, ValueError) as err:
                    errors.append("%s: Input is not valid JSON (%s)" % (where, err))
    return errors


def _kustomization_data(path):
    data = yaml.load(path.read_text(), Loader=StrictLoader) or {}
    if not isinstance(data, dict):
        raise ManifestError(["kustomization is not a mapping"])
    return data


def patch_files(kustomization):
    """Files a kustomization uses as patches: partial documents, not manifests."""
    try:
        data = _kustomization_data(kustomization)
    except (yaml.YAMLError, ManifestError):
        return set()  # reported when the kustomization itself is checked
    found = set()
    for entry in data.get("patchesStrategicMerge") or []:
        if isinstance(entry, str) and "\n" not in entry:
            found.add((kustomization.parent / entry).resolve())
    for key in ("patches", "patchesJson6902"):
        for entry in data.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                found.add((kustomization.parent / entry["path"]).resolve())
    return found


def manifest_files(infra):
    patches = set()
    for kustomization in kustomizations(infra):
        patches |= patch_files(kustomization)
    for path in sorted(infra.rglob("*")):
        if (path.is_file() and path.suffix in YAML_SUFFIXES and path.name not in KUSTOMIZATION_NAMES
                and not _excluded_dir(infra, path) and path.resolve() not in patches):
            yield path


def kustomize_command():
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


# ------------------------------------------------------------------------ main


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, what, detail):
        self.passed += 1
        print("PASS %s (%s)" % (what, detail))

    def fail(self, what, messages):
        self.failed += 1
        print("FAIL %s" % what)
        for message in messages:
            print("       %s" % message)


def describe(doc):
    if not isinstance(doc, dict):
        return "?"
    name = (doc.get("metadata") or {}).get("name") if isinstance(doc.get("metadata"), dict) else None
    return "%s %s %s" % (doc.get("apiVersion", "?"), doc.get("kind", "?"), name or "?")


def check_documents(validator, report, label, docs):
    for index, doc in enumerate(docs, 1):
        what = "%s#%d %s" % (label, index, describe(doc))
        try:
            used, errors = validator.validate(doc), []
        except ManifestError as err:
            used, errors = None, list(err.args[0])
        errors += delivery_policy_errors(doc, label)
        if errors:
            report.fail(what, errors)
        elif isinstance(doc, dict) and (doc.get("apiVersion", "").rpartition("/")[0], doc.get("kind")) in DELIVERY_KINDS:
            report.ok(what, used + "; delivery policy")
        else:
            report.ok(what, used)


def run(root, crd_dir, k8s_version):
    root = Path(root)
    infra = root / "infra"
    if not infra.is_dir():
        raise SystemExit("FAIL no infra/ folder under %s" % root)
    validator = Validator(crd_dir, k8s_version)
    report = Report()

    files = list(manifest_files(infra))
    if not files:
        report.fail(str(infra), ["no manifests found"])
    for path in files:
        label = str(path.relative_to(root))
        try:
            docs = load_documents(path.read_text())
        except yaml.YAMLError as err:
            report.fail(label, ["YAML: %s" % str(err).replace("\n", " ")])
            continue
        if not docs:
            report.fail(label, ["no YAML documents in file"])
            continue
        check_documents(validator, report, label, docs)

    # Every file in a services/ or eventing/ folder must be listed in the kustomization beside it.
    listed_folders = sorted(p for name in LISTED_FOLDERS for p in infra.rglob(name)
                            if p.is_dir() and not _excluded_dir(infra, p))
    for listed_dir in listed_folders:
        folder = listed_dir.parent
        label = "%s/" % listed_dir.relative_to(root)
        kustomization = next((folder / n for n in sorted(KUSTOMIZATION_NAMES) if (folder / n).is_file()), None)
        if kustomization is None:
            report.fail(label, ["no kustomization.yaml in %s to list these files" % folder.relative_to(root)])
            continue
        try:
            data = _kustomization_data(kustomization)
        except (yaml.YAMLError, ManifestError) as err:
            report.fail(label, ["%s: %s" % (kustomization.relative_to(root), str(err).replace("\n", " "))])
            continue
        listed = {(folder / r).resolve() for r in data.get("resources") or [] if isinstance(r, str)}
        files_in = sorted(p for p in listed_dir.rglob("*") if p.is_file())
        missing = [str(p.relative_to(root)) for p in files_in if p.resolve() not in listed]
        what = "%s lists every file in %s" % (kustomization.relative_to(root), label)
        if missing:
            report.fail(what, ["not in resources: %s" % m for m in missing])
        else:
            report.ok(what, "%d files" % len(files_in))

    for path in sorted((infra / "lambda").glob("*.y*ml")) if (infra / "lambda").is_dir() else []:
        label = str(path.relative_to(root))
        errors = lambda_template_errors(path)
        if errors:
            report.fail(label, errors)
        else:
            report.ok(label, "AWS SAM template: SQS batch failures, redrive, schedule inputs")

    build = kustomize_command()
    for kustomization in kustomizations(infra):
        folder = kustomization.parent
        label = str(kustomization.relative_to(root))
        if build is None:
            print("NOTE %s: neither kustomize nor kubectl is installed; rendered output not checked" % label)
            continue
        proc = subprocess.run(build + [str(folder)], capture_output=True, text=True)
        if proc.returncode != 0:
            report.fail("%s build" % label, ["%s: %s" % (" ".join(build), proc.stderr.strip())])
            continue
        check_documents(validator, report, "%s (%s)" % (folder.relative_to(root), " ".join(build)),
                        load_documents(proc.stdout))

    print("%d passed, %d failed" % (report.passed, report.failed))
    return 0 if report.failed == 0 else 1


# -------------------------------------------------------------------- self-test


def _find(root, predicate):
    for path in manifest_files(root / "infra"):
        docs = load_documents(path.read_text())
        for index, doc in enumerate(docs):
            if isinstance(doc, dict) and predicate(doc):
                return path, docs, index
    raise LookupError("no document matches")


def _is_kservice(doc):
    return doc.get("apiVersion") == "serving.knative.dev/v1" and doc.get("kind") == "Service"


def _mutate(root, predicate, change):
    path, docs, index = _find(root, predicate)
    change(docs[index])
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _rename_key(mapping, old, new):
    if old not in mapping:
        raise LookupError("no %r to rename" % old)
    mapping[new] = mapping.pop(old)


def _kservice_spec(doc):
    return doc["spec"]["template"]["spec"]


def _set_type(doc, kind):
    doc["kind"] = kind


def _is_trigger(doc):
    return doc.get("apiVersion") == "eventing.knative.dev/v1" and doc.get("kind") == "Trigger"


def _is_broker(doc):
    return doc.get("apiVersion") == "eventing.knative.dev/v1" and doc.get("kind") == "Broker"


def _drop(mapping, key):
    if key not in mapping:
        raise LookupError("no %r to remove" % key)
    del mapping[key]


def _raw_edit(root, predicate, old, new):
    path, _, _ = _find(root, predicate)
    text = path.read_text()
    if old not in text:
        raise LookupError("%r not found in %s" % (old, path))
    path.write_text(text.replace(old, new, 1))


def _raw_text_edit(path, old, new):
    text = path.read_text()
    if old not in text:
        raise LookupError("%r not found in %s" % (old, path))
    path.write_text(text.replace(old, new, 1))


SELF_TESTS = [
    # (name, expected text in the output, mutation(root) or None, crd_dir override)
    ("Knative Service: typo'd field containerConcurency", "'containerConcurency' was unexpected",
     lambda r: _mutate(r, _is_kservice,
                       lambda d: _rename_key(_kservice_spec(d), "containerConcurrency", "containerConcurency")),
     None),
    ("Knative Service: containerConcurrency as a string", "is not of type 'integer'",
     lambda r: _mutate(r, _is_kservice,
                       lambda d: _kservice_spec(d).update(containerConcurrency="100")), None),
    ("Knative Service: unquoted min-scale annotation (int, not string)", "is not of type 'string'",
     lambda r: _mutate(r, _is_kservice,
                       lambda d: d["spec"]["template"]["metadata"]["annotations"].update(
                           {"autoscaling.knative.dev/min-scale": 0})), None),
    ("Knative Service: typo'd probe field (httpGet -> httpget)", "'httpget' was unexpected",
     lambda r: _mutate(r, _is_kservice,
                       lambda d: _rename_key(_kservice_spec(d)["containers"][0]["livenessProbe"],
                                             "httpGet", "httpget")), None),
    ("Knative Service: duplicate env name (list-type=map)", "duplicate entry",
     lambda r: _mutate(r, _is_kservice,
                       lambda d: _kservice_spec(d)["containers"][0]["env"].append(
                           copy.deepcopy(_kservice_spec(d)["containers"][0]["env"][0]))), None),
    ("Knative Service: typo in metadata (lables)", "'lables' was unexpected",
     lambda r: _mutate(r, _is_kservice, lambda d: _rename_key(d["metadata"], "labels", "lables")), None),
    ("Knative Service: typo in template metadata (annotation)", "'annotation' was unexpected",
     lambda r: _mutate(r, _is_kservice,
                       lambda d: _rename_key(d["spec"]["template"]["metadata"], "annotations", "annotation")),
     None),
    ("Knative Service: unknown kind (ServiceX)", "no CRD schema",
     lambda r: _mutate(r, _is_kservice, lambda d: _set_type(d, "ServiceX")), None),
    ("Job: typo'd field backofLimit", "'backofLimit' was unexpected",
     lambda r: _mutate(r, lambda d: d.get("kind") == "Job",
                       lambda d: _rename_key(d["spec"], "backoffLimit", "backofLimit")), None),
    ("Job: securityContext.runAsNonRoot as a string", "is not of type",
     lambda r: _mutate(r, lambda d: d.get("kind") == "Job",
                       lambda d: d["spec"]["template"]["spec"]["containers"][0]["securityContext"].update(
                           runAsNonRoot="yes")), None),
    ("ConfigMap: unquoted number in data", "is not of type",
     lambda r: _mutate(r, lambda d: d.get("kind") == "ConfigMap",
                       lambda d: d["data"].update(TICKETGW_DB_POOL_SIZE=5)), None),
    ("ConfigMap: unknown built-in kind (ConfigMapp)", "unknown kind",
     lambda r: _mutate(r, lambda d: d.get("kind") == "ConfigMap", lambda d: _set_type(d, "ConfigMapp")), None),
    ("duplicate YAML key", "found duplicate key",
     lambda r: _raw_edit(r, lambda d: d.get("kind") == "ConfigMap", "\ndata:\n", "\ndata:\n  RUST_LOG: debug\n"),
     None),
    ("invalid name (upper case)", "not a DNS-1035 label",
     lambda r: _mutate(r, _is_kservice, lambda d: d["metadata"].update(name="Catalog_Query")), None),
    ("services/ file not listed in kustomization.yaml", "not in resources",
     lambda r: shutil.copy(next((r / "infra" / "knative" / "services").glob("*.yaml")),
                           r / "infra" / "knative" / "services" / "zz-unlisted.yaml"), None),
    ("Trigger without deadLetterSink", "spec.delivery.deadLetterSink is missing",
     lambda r: _mutate(r, _is_trigger, lambda d: _drop(d["spec"]["delivery"], "deadLetterSink")), None),
    ("Trigger without retry", "spec.delivery.retry is missing",
     lambda r: _mutate(r, _is_trigger, lambda d: _drop(d["spec"]["delivery"], "retry")), None),
    ("Trigger with retry 0", "spec.delivery.retry must be an integer >= 1",
     lambda r: _mutate(r, _is_trigger, lambda d: d["spec"]["delivery"].update(retry=0)), None),
    ("Trigger without backoffPolicy", "spec.delivery.backoffPolicy is missing",
     lambda r: _mutate(r, _is_trigger, lambda d: _drop(d["spec"]["delivery"], "backoffPolicy")), None),
    ("Trigger without backoffDelay", "spec.delivery.backoffDelay is missing",
     lambda r: _mutate(r, _is_trigger, lambda d: _drop(d["spec"]["delivery"], "backoffDelay")), None),
    ("Trigger with a non-ISO-8601 backoffDelay (500ms)", "is not an ISO-8601 duration",
     lambda r: _mutate(r, _is_trigger, lambda d: d["spec"]["delivery"].update(backoffDelay="500ms")), None),
    ("Trigger without spec.delivery", "spec.delivery is missing",
     lambda r: _mutate(r, _is_trigger, lambda d: _drop(d["spec"], "delivery")), None),
    ("Trigger with a deadLetterSink that has neither ref nor uri", "needs a ref",
     lambda r: _mutate(r, _is_trigger, lambda d: d["spec"]["delivery"].update(deadLetterSink={})), None),
    ("Broker without deadLetterSink",
     "Broker ticketgw in infra/knative/eventing/broker.yaml: spec.delivery.deadLetterSink is missing",
     lambda r: _mutate(r, _is_broker, lambda d: _drop(d["spec"]["delivery"], "deadLetterSink")), None),
    ("eventing/ file not listed in kustomization.yaml", "not in resources: infra/knative/eventing/",
     lambda r: shutil.copy(next((r / "infra" / "knative" / "eventing").glob("*.yaml")),
                           r / "infra" / "knative" / "eventing" / "zz-unlisted.yaml"), None),
    ("kustomization.yaml beside services/ missing", "no kustomization.yaml",
     lambda r: (r / "infra" / "knative" / "kustomization.yaml").unlink(), None),
    ("Lambda template: SQS event without ReportBatchItemFailures", "SQS event without FunctionResponseTypes",
     lambda r: _raw_text_edit(r / "infra" / "lambda" / "template.yaml",
                              "              - ReportBatchItemFailures\n", "              - Other\n"), None),
    ("Lambda template: queue redrive without maxReceiveCount", "RedrivePolicy.maxReceiveCount is missing",
     lambda r: _raw_text_edit(r / "infra" / "lambda" / "template.yaml", "        maxReceiveCount: 5\n", ""),
     None),
    ("Lambda template: schedule Input that is not JSON", "Input is not valid JSON",
     lambda r: _raw_text_edit(r / "infra" / "lambda" / "template.yaml", '"isBase64Encoded":false}',
                              '"isBase64Encoded":false'), None),
    ("CRD schema folder missing", "CRD schema folder not found", None, "missing"),
    ("CRD schema file missing (empty schema folder)", "no CRD schema", None, "empty"),
]


def self_test(root, crd_dir, k8s_version):
    root = Path(root)
    script = Path(__file__).resolve()
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="validate-manifests-selftest-") as tmp:
        def fresh_copy(name):
            case_root = Path(tmp) / name
            shutil.copytree(root / "infra", case_root / "infra",
                            ignore=shutil.ignore_patterns("terraform", ".*"))
            return case_root

        def validate(case_root, crd):
            proc = subprocess.run(
                [sys.executable, str(script), "--root", str(case_root), "--crd-dir", str(crd),
                 "--k8s-version", k8s_version], capture_output=True, text=True)
            return proc.returncode, proc.stdout + proc.stderr

        # Positive control: an untouched copy must pass, or the negatives prove nothing.
        rc, out = validate(fresh_copy("control"), crd_dir)
        if rc == 0:
            passed += 1
            print("PASS self-test: positive control (unmodified copy of infra/) is accepted")
        else:
            failed += 1
            print("FAIL self-test: positive control rejected:\n" + out)

        for number, (name, expected, mutation, crd_override) in enumerate(SELF_TESTS, 1):
            case_root = fresh_copy("case%02d" % number)
            crd = crd_dir
            if crd_override == "missing":
                crd = Path(tmp) / "no-such-folder"
            elif crd_override == "empty":
                crd = Path(tmp) / ("empty-crds-%02d" % number)
                crd.mkdir()
            try:
                if mutation:
                    mutation(case_root)
            except (LookupError, KeyError, IndexError, StopIteration) as err:
                failed += 1
                print("FAIL self-test: %s: could not apply the mutation (%r)" % (name, err))
                continue
            rc, out = validate(case_root, crd)
            first = next((line.strip() for line in out.splitlines()
                          if expected in line), None)
            if rc != 0 and first:
                passed += 1
                print("PASS self-test: %s: rejected (%s)" % (name, first))
            else:
                failed += 1
                print("FAIL self-test: %s: expected a failure mentioning %r, got exit %d:\n%s"
                      % (name, expected, rc, out))
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=".", help="folder holding infra/ (default: .)")
    parser.add_argument("--crd-dir", required=True, help="folder of CRD JSON schemas (<group>/<kind>_<version>.json)")
    parser.add_argument("--k8s-version", default="1.30", help="Kubernetes version for built-in kinds")
    parser.add_argument("--self-test", action="store_true", help="run the negative controls")
    args = parser.parse_args()
    if args.self_test:
        return self_test(args.root, Path(args.crd_dir), args.k8s_version)
    return run(args.root, args.crd_dir, args.k8s_version)


if __name__ == "__main__":
    sys.exit(main())
