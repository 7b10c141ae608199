"""The Open Inference Protocol (V2: KServe, Triton, Seldon MLServer) beside ``/v1``: health,
server and model metadata, readiness and ``infer``, so V2 clients, gateways and load tests point
at this service as they are. The named inputs are the problem's request columns (the spine's id,
entity keys, request columns and ``timestamp``), one tensor each with the batch as its first
dimension; each row is validated by the same event model as ``/v1`` (the columns' contracts) and
scored by the same path (features, canary and shadow routing, metrics, prediction log).

Requests come as JSON, or with Triton's binary tensor extension (what ``tritonclient`` sends by
default); answers are JSON, which every V2 client reads. A client's mistake is a 400 with
``{"error": ...}`` naming the input, the row and the rule, as the protocol answers errors."""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ml_assets.core.problem.spec import REQUEST_TIMESTAMP, ProblemSpec
from ml_assets.serving.fast_path import ScoreResponse

DATATYPES = {"str": "BYTES", "int": "INT64", "float": "FP64", "bool": "BOOL"}
# what each declared datatype also accepts from a client (a narrower number of the same kind)
ACCEPTS = {
    "INT64": {"INT64", "INT32", "INT16", "INT8", "UINT64", "UINT32", "UINT16", "UINT8"},
    "FP64": {"FP64", "FP32", "FP16"},
    "BYTES": {"BYTES"},
    "BOOL": {"BOOL"},
}
# Triton's binary tensor extension: little-endian fixed-width values; BYTES as 4-byte lengths
BINARY = {
    "BOOL": "?",
    "INT8": "b",
    "INT16": "h",
    "INT32": "i",
    "INT64": "q",
    "UINT8": "B",
    "UINT16": "H",
    "UINT32": "I",
    "UINT64": "Q",
    "FP16": "e",
    "FP32": "f",
    "FP64": "d",
}
HEADER = "inference-header-content-length"


@dataclasses.dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str

    def metadata(self) -> dict:
        return {"name": self.name, "datatype": self.datatype, "shape": [-1]}


OUTPUTS = (
    Tensor("score", "FP64"),
    Tensor("decision", "BOOL"),
    Tensor("model_version", "BYTES"),
    Tensor("arm", "BYTES"),
)


def inputs_of(spec: ProblemSpec) -> list[Tensor]:
    """The request's tensors, in the event model's order; the timestamp as ISO 8601 text."""
    spine = spec.spine_columns()
    names = dict.fromkeys([spine.id, *spine.keys, *spine.request])
    return [Tensor(n, DATATYPES[spine.types[n]]) for n in names] + [Tensor(REQUEST_TIMESTAMP, "BYTES")]


class InputTensor(BaseModel):
    name: str
    shape: list[int] = Field(min_length=1)
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list | None = None  # absent when the values come as binary


class OutputTensor(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")  # e.g. Triton's sequence fields
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[InputTensor] = Field(min_length=1)
    outputs: list[OutputTensor] | None = None


class V2Error(BaseModel):
    error: str = Field(description="what went wrong, and what to send instead")


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str] = Field(description="the champion's version, then a challenger's during a rollout")
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class OutputData(TensorMetadata):
    data: list


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str = Field(description="the champion's; each row's own: output model_version")
    id: str | None = None
    outputs: list[OutputData]


def _answers(*codes: int) -> dict:
    """Documented error answers: every one has the protocol's ``{"error": ...}`` shape."""
    said = {400: "a client's mistake, named", 404: "no such model", 503: "not ready, or no features"}
    return {code: {"model": V2Error, "description": said[code]} for code in codes}


class ClientError(ValueError):
    """A request this service cannot answer as sent: a 400 whose text says what to change."""


def _flat(data: list) -> list:
    out: list = []
    for value in data:
        out.extend(_flat(value) if isinstance(value, list) else [value])
    return out


def _binary(tensor: InputTensor, blob: bytes) -> list:
    if tensor.datatype == "BYTES":
        values, at = [], 0
        while at < len(blob):
            (size,) = struct.unpack_from("<I", blob, at)
            values.append(blob[at + 4 : at + 4 + size].decode("utf-8", errors="strict"))
            at += 4 + size
        return values
    code = BINARY.get(tensor.datatype)
    if code is None or len(blob) % struct.calcsize(code):
        raise ClientError(f"input '{tensor.name}': {len(blob)} bytes are no {tensor.datatype} values")
    return list(struct.unpack(f"<{len(blob) // struct.calcsize(code)}{code}", blob))


def parse(body: bytes, header_length: str | None) -> tuple[InferenceRequest, dict[str, list]]:
    """The request and each input's values, flat, from JSON or the binary tensor extension."""
    try:
        size = int(header_length) if header_length is not None else len(body)
        if not 0 < size <= len(body):
            raise ValueError
        request = InferenceRequest.model_validate_json(body[:size])
    except ValueError as exc:  # pydantic's ValidationError is one
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "no JSON header"
        raise ClientError(f"not an inference request ({detail}): see GET /v2/models/{{name}}") from None
    values, at = {}, size
    for tensor in request.inputs:
        blob_size = (tensor.parameters or {}).get("binary_data_size")
        if blob_size is None:
            if tensor.data is None:
                raise ClientError(f"input '{tensor.name}' has no data")
            values[tensor.name] = _flat(tensor.data)
            continue
        try:
            values[tensor.name] = _binary(tensor, body[at : at + int(blob_size)])
        except ClientError:
            raise
        except (struct.error, UnicodeDecodeError, TypeError, ValueError) as exc:
            raise ClientError(f"input '{tensor.name}': unreadable binary data ({exc})") from None
        at += int(blob_size)
    return request, values


def events(
    request: InferenceRequest, values: dict[str, list], declared: list[Tensor], event_model, max_batch: int
) -> list:
    """One validated event per row; every input declared, of its datatype, with as many rows."""
    wanted = {t.name: t for t in declared}
    sent = {t.name: t for t in request.inputs}
    if len(sent) < len(request.inputs):
        raise ClientError("an input is named twice")
    if sent.keys() != wanted.keys():
        missing, unknown = sorted(wanted.keys() - sent.keys()), sorted(sent.keys() - wanted.keys())
        raise ClientError(f"inputs missing: {missing}; unknown: {unknown} (the inputs: {list(wanted)})")
    rows = {len(v) for v in values.values()}
    for tensor in request.inputs:
        if tensor.datatype not in ACCEPTS[wanted[tensor.name].datatype]:
            raise ClientError(
                f"input '{tensor.name}' is {tensor.datatype}: send it as {wanted[tensor.name].datatype}"
            )
        if tensor.shape[0] != len(values[tensor.name]) or any(d != 1 for d in tensor.shape[1:]):
            raise ClientError(f"input '{tensor.name}' has shape {tensor.shape}: send [rows] or [rows, 1]")
    if len(rows) != 1:
        raise ClientError("every input must hold the same number of rows (one per event)")
    n = rows.pop()
    if not 1 <= n <= max_batch:
        raise ClientError(f"{n} rows: a request holds 1 to {max_batch} events")
    out = []
    for i in range(n):
        row = {name: column[i] for name, column in values.items()}
        try:
            out.append(event_model.model_validate(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = first["loc"][0] if first["loc"] else "?"
            raise ClientError(f"input '{field}' row {i}: {first['msg']} (sent {row.get(field)!r})") from None
    return out


def requested(request: InferenceRequest) -> list[Tensor]:
    """The outputs asked for (all of them when none is named), checked before any scoring."""
    known = {t.name: t for t in OUTPUTS}
    if not request.outputs:
        return list(OUTPUTS)
    unknown = [o.name for o in request.outputs if o.name not in known]
    if unknown:
        raise ClientError(f"outputs {unknown} are not produced: ask for any of {list(known)}")
    return [known[o.name] for o in request.outputs]


def outputs(tensors: list[Tensor], answers: list[dict]) -> list[dict]:
    return [{**t.metadata(), "shape": [len(answers)], "data": [a[t.name] for a in answers]} for t in tensors]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


@dataclasses.dataclass(frozen=True)
class V2Service:
    """What the V2 routes need from the service (app.py): its model, readiness and scoring."""

    spec: ProblemSpec
    event_model: type[BaseModel]
    model_name: Callable[[], str]
    versions: Callable[[], list[str]]  # the champion's, then a challenger's during a rollout
    not_ready: Callable[[], str | None]  # the reason, or None when ready
    score: Callable[[list], list[dict]]
    score_off_loop: Callable[[Callable, list], Any]  # awaitable: ``score`` on the batch thread
    max_batch: int
    version: str


def router(service: V2Service, infer_dependencies: list | None = None) -> APIRouter:
    """The V2 routes; ``infer_dependencies`` guard inference as ``/v1``'s scoring is guarded."""
    api = APIRouter(prefix="/v2", tags=["Open Inference Protocol (V2)"])
    declared = inputs_of(service.spec)

    def unknown(name: str) -> JSONResponse | None:
        if name != service.model_name():
            return _error(404, f"unknown model '{name}': this service serves '{service.model_name()}'")
        return None

    @api.get("", response_model=ServerMetadata)
    async def server_metadata():
        return {"name": "ml-assets", "version": service.version, "extensions": ["binary_tensor_data"]}

    @api.get("/health/live")
    async def live():
        return {"live": True}

    @api.get("/health/ready", responses=_answers(400))
    async def ready():
        # the protocol: 200 means true, a 4xx false
        reason = service.not_ready()
        return {"ready": True} if reason is None else _error(400, f"not ready: {reason}")

    @api.get("/models/{name}", response_model=ModelMetadata, responses=_answers(404))
    async def model_metadata(name: str):
        if (missing := unknown(name)) is not None:
            return missing
        return {
            "name": name,
            "versions": service.versions(),
            "platform": "lightgbm",
            "inputs": [t.metadata() for t in declared],
            "outputs": [t.metadata() for t in OUTPUTS],
        }

    @api.get("/models/{name}/ready", responses=_answers(400, 404))
    async def model_ready(name: str):
        if (missing := unknown(name)) is not None:
            return missing
        reason = service.not_ready()
        return {"name": name, "ready": True} if reason is None else _error(400, f"not ready: {reason}")

    @api.post(
        "/models/{name}/infer",
        dependencies=infer_dependencies or [],
        response_model=InferenceResponse,
        responses=_answers(400, 404, 503),
    )
    async def infer(name: str, request: Request):
        from ml_assets.core.serving import FeaturesUnavailable

        if (missing := unknown(name)) is not None:
            return missing
        try:
            parsed, values = parse(await request.body(), request.headers.get(HEADER))
            batch = events(parsed, values, declared, service.event_model, service.max_batch)
            tensors = requested(parsed)
        except ClientError as exc:
            return _error(400, str(exc))
        if (reason := service.not_ready()) is not None:
            return _error(503, f"not ready: {reason}")
        try:
            answers = await service.score_off_loop(service.score, batch)
        except FeaturesUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503, headers={"Retry-After": "5"})
        body = {"model_name": name, "model_version": service.versions()[0]}
        body["outputs"] = outputs(tensors, answers)
        if parsed.id is not None:
            body["id"] = parsed.id
        return ScoreResponse(body)

    return api
