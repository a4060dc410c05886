"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.coordinator import Coordinator
from api.monitor import Monitor
from api.reportstore import ReportStore


def get_coordinator(request: Request) -> Coordinator:
    """The app's coordinator (set up by the lifespan)."""
    coordinator: Coordinator = request.app.state.coordinator
    return coordinator


def get_store(request: Request) -> ReportStore:
    """The app's report store."""
    store: ReportStore = request.app.state.store
    return store


def get_monitor(request: Request) -> Monitor:
    """The app's monitor."""
    monitor: Monitor = request.app.state.monitor
    return monitor


MonitorDep = Annotated[Monitor, Depends(get_monitor)]
CoordinatorDep = Annotated[Coordinator, Depends(get_coordinator)]
StoreDep = Annotated[ReportStore, Depends(get_store)]
