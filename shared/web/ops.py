"""Operations endpoints: /healthz (database reachable) and /metrics
(Prometheus text), plus robots.txt keeping customer pages out of search."""

from __future__ import annotations

from typing import cast

from flask import Flask, Response, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from shared.services.core import Core


def register(app: Flask) -> None:
    @app.get("/healthz")
    def healthz() -> ResponseReturnValue:
        core = cast(Core, current_app.extensions["baylight"])
        try:
            with core.db.read() as session:
                session.execute(text("SELECT 1"))
        except Exception as failure:  # any driver error means "not healthy"
            return jsonify({"status": "error", "database": str(failure)[:200]}), 503
        return jsonify({"status": "ok", "database": "ok", "async_mode": core.settings.async_mode})

    @app.get("/metrics")
    def metrics() -> ResponseReturnValue:
        core = cast(Core, current_app.extensions["baylight"])
        return Response(core.metrics.render(), mimetype="text/plain; version=0.0.4")

    @app.get("/robots.txt")
    def robots() -> ResponseReturnValue:
        return Response("User-agent: *\nDisallow: /t/\nDisallow: /api/\n", mimetype="text/plain")
