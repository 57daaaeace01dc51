"""NNI's strategies as a search needs them; both subclass NNI classes and read their private attributes.

- `tolerant_chain`: NNI's `Chain` fails on a checkpoint written with fewer middlewares, and ends its
  run when the strategy stops (a multi-fidelity schedule goes on).
- `warm_evolution`: NNI's RegularizedEvolution has no way to open its population with known networks.

NNI is imported inside the functions: the boundary is imported on the command line's light path.
"""
from __future__ import annotations

import logging


def tolerant_chain(*middlewares, then=None, after=None):
    """NNI's `Chain`, able to load a checkpoint written with fewer middlewares (searches from before
    Replay joined the chain): the missing ones start fresh. Reads Chain's private `_middlewares`.
    `then`: called once the strategy has stopped (NNI's chain ends its run there; a multi-fidelity
    schedule goes on with promotions and its race, nas.engine.multifidelity); `after`: called however the run ends.
    Proved by test_nni_boundary.py and test_asha.py."""
    from nni.nas.strategy.middleware import Chain

    class TolerantChain(Chain):
        def load_state_dict(self, state_dict: dict) -> None:
            states = list(state_dict["middlewares"])
            states += [{}] * (len(self._middlewares) - len(states))
            super().load_state_dict({**state_dict, "middlewares": states})

        def run(self) -> None:
            try:
                super().run()
                if then is not None:
                    then()
            finally:
                if after is not None:
                    after()

    return TolerantChain(*middlewares)


def warm_evolution(seeds: list[dict], **kwargs):
    """NNI's RegularizedEvolution whose initial population begins with `seeds` (full samples of the
    space), then random ones. Overrides `random` and uses the private `_dedup_helper` and
    `_individual_counter` as NNI's own `random` does. How many seeds were given is part of the
    strategy's state, so a resumed search proposes no seed twice and loses none. Proved by
    test_nni_boundary.py::test_warm_evolution_seeds_first_and_resumes."""
    from nni.mutable.exception import SampleValidationError  # DuplicationError is one
    from nni.nas.strategy import RegularizedEvolution

    log = logging.getLogger("nni.nas.strategy.evolution")

    class WarmEvolution(RegularizedEvolution):
        def __init__(self):
            super().__init__(**kwargs)
            self.seeds = [dict(s) for s in seeds]
            self.seeds_given = 0

        @property
        def labels(self) -> set:
            return set(self.model_space.simplify())

        def random(self):
            while self.seeds_given < len(self.seeds):
                # the labels this space samples (not those pinned by --fix, nor recipe labels it lacks)
                sample = {k: v for k, v in self.seeds[self.seeds_given].items() if k in self.labels}
                self.seeds_given += 1
                try:
                    if self._dedup_helper is not None:
                        self._dedup_helper.dedup(sample)
                    model = self.model_space.freeze(sample)
                except SampleValidationError:  # a duplicate, or not a point of this space: the next one
                    continue
                self._individual_counter += 1
                log.info("[Individual %4d] Seed: %s", self._individual_counter, sample)
                return model
            return super().random()

        def state_dict(self) -> dict:
            return {**super().state_dict(), "seeds_given": self.seeds_given}

        def load_state_dict(self, state_dict: dict) -> None:
            super().load_state_dict(state_dict)
            self.seeds_given = state_dict.get("seeds_given", 0)

    return WarmEvolution()
