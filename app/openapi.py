"""The OpenAPI 3.1 document, built from the routes' own declarations and models."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from app.http import ApiRoute, Call
from app.keys import ROUTES, SETTINGS

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


# What each error status means in the document.
ERROR_DESCRIPTIONS = {
    400: "参数错误",
    401: "未登录",
    403: "角色无权操作,或须先修改初始密码(password_change_required)",
    404: "不存在或无权查看",
    409: "当前状态不允许该操作,或与已有数据冲突",
    413: "请求内容过大",
    429: "请求过于频繁",
}


def error_statuses(route: ApiRoute) -> list[int]:
    """The error statuses a route can answer: 400 always (query, body, malformed JSON),
    401/403 behind a login, 404 when the path names an object, 413 when it takes a body
    (the server's body limit), 429 when it counts against the API-wide rate limit, plus
    those the route declares (409, 413, 429)."""
    statuses = {400, *route.errors}
    if route.throttled:
        statuses.add(429)
    if not route.public:
        statuses |= {401, 403}
    if "{" in route.path:
        statuses.add(404)
    if route.body is not None or route.method in ("POST", "PUT", "PATCH"):
        statuses.add(413)
    return sorted(statuses)


def build_document(routes: list[ApiRoute]) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for route in routes:
        responses: dict[str, Any] = {str(route.status): {"description": "成功"}}
        for status in error_statuses(route):
            responses[str(status)] = _error(ERROR_DESCRIPTIONS[status])
        op: dict[str, Any] = {
            "summary": route.summary,
            "operationId": route.handler.__name__,
            "tags": list(route.tags),
            "responses": responses,
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ]
        if route.query is not None:
            props = route.query.model_json_schema(by_alias=True).get("properties", {})
            required = route.query.model_json_schema(by_alias=True).get("required", [])
            params += [
                {"name": name, "in": "query", "required": name in required, "schema": schema}
                for name, schema in props.items()
            ]
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _schema(route.body, components)}},
            }
        if not route.public:
            op["security"] = [{"bearer": []}]
            if route.api_keys or route.open311:
                op["security"].append({"apiKey": []})
        paths.setdefault(route.path, {})[route.method.lower()] = op
    _link_creations(routes, paths)
    return {
        "openapi": "3.1.0",
        "info": {"title": "12345 热线工单系统 API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def _link_creations(routes: list[ApiRoute], paths: dict[str, Any]) -> None:
    """OpenAPI links from each creating operation to the operations on what it made."""
    for route in routes:
        if route.creates is None:
            continue
        field, resource = route.creates
        param = re.findall(r"{(\w+)}", resource)[-1]
        links = {
            target.handler.__name__: {
                "operationId": target.handler.__name__,
                "parameters": {param: f"$response.body#/{field}"},
            }
            for target in routes
            if target.path == resource or target.path.startswith(resource + "/")
        }
        response = paths[route.path][route.method.lower()]["responses"][str(route.status)]
        response["links"] = links


def name_hotlines(document: dict[str, Any], numbers: list[str]) -> None:
    """Every body field `hotline` takes one of this centre's numbers (from the settings):
    the contract says which, so a client (or a fuzzer) need not guess."""
    for schema in document["components"]["schemas"].values():
        field = schema.get("properties", {}).get("hotline")
        if field is not None and field.get("type") == "string":
            field["enum"] = numbers


async def openapi(request: web.Request, call: Call):
    document = build_document(request.app[ROUTES])
    name_hotlines(document, [h.number for h in request.app[SETTINGS].hotlines])
    return document


routes = [ApiRoute("GET", "/api/v1/openapi.json", openapi, "OpenAPI 文档", public=True)]
