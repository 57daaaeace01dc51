"""`ChainMiddleware`, the base of this tool's strategy middlewares (nas.engine.multifidelity.Rungs,
nas.engine.replay.Replay, nas.engine.retry.RetryOnce): NNI 3.0's `StrategyMiddleware` with its
private hooks under public names of ours, so the middlewares themselves use NNI's public API only.

- `on_engine(engine)`: NNI 3.0 tells a middleware its engine through the private
  `_initialize_engine`, which `set_engine` calls once the engine (or middleware) below is set; the
  chain sets them from the bottom up, so a middleware's own callbacks on its engine come before those
  of the middlewares above it and can stop their events.
- `on_cleanup()`: NNI's `Chain.run` calls each middleware's private `_cleanup` once the strategy has
  stopped, however it stopped; trials may still be running and reporting then.
- `callbacks_reach_engine`: NNI's base class keeps the callbacks the middleware above registers on
  this one, to be called only by this middleware's own `dispatch_model_event`; NNI's Filter and
  Deduplication register them on their engine too, and so does a subclass that sets this, or the
  strategy above would never hear a trained model's events.

Imports NNI at the top: import it from this module (`from nas.nni_boundary.middleware import
ChainMiddleware`), not from the boundary's package, which the command line imports without NNI.
Proved by test_asha.py, test_recovery.py and test_e2e.py (every search runs through the three).
"""
from __future__ import annotations

from nni.nas.strategy.middleware import StrategyMiddleware


class ChainMiddleware(StrategyMiddleware):
    """NNI's StrategyMiddleware; subclasses override `on_engine` and `on_cleanup`, never NNI's
    private hooks (see the module docstring)."""

    callbacks_reach_engine = False  # register the callbacks from above on the engine below too

    def on_engine(self, engine) -> None:
        """The engine (or middleware) below is set: register this middleware's callbacks on it."""

    def on_cleanup(self) -> None:
        """The strategy has stopped (its chain's run ends); trials may still end after this."""

    def _initialize_engine(self, engine) -> None:
        self.on_engine(engine)

    def _cleanup(self) -> None:
        self.on_cleanup()

    def register_model_event_callback(self, event_type, callback) -> None:
        super().register_model_event_callback(event_type, callback)
        if self.callbacks_reach_engine:
            self.engine.register_model_event_callback(event_type, callback)

    def unregister_model_event_callback(self, event_type, callback) -> None:
        super().unregister_model_event_callback(event_type, callback)
        if self.callbacks_reach_engine:
            self.engine.unregister_model_event_callback(event_type, callback)
