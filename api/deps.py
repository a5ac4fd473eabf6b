"""FastAPI dependencies, declared once as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.service import LoreService


def get_service(request: Request) -> LoreService:
    return request.app.state.service


ServiceDep = Annotated[LoreService, Depends(get_service)]
