"""The aot runtime's static arena planner."""

from __future__ import annotations

import pytest

from tinyml.runtimes.aot import planner
from tinyml.runtimes.aot.planner import ARENA, EXTERNAL_INPUT, EXTERNAL_OUTPUT, PlanRequest


def _chain(sizes, *, aliases=(), scratch=None, extra_consumers=None):
    """t0 -> op0 -> t1 -> op1 -> ... -> tN; t0 is the model input, tN its output."""
    n = len(sizes) - 1
    consumers = {i: [i] for i in range(n)}
    for t, ops in (extra_consumers or {}).items():
        consumers.setdefault(t, []).extend(ops)
    return PlanRequest(op_count=n, tensor_sizes=dict(enumerate(sizes)),
                       producers={i: i - 1 for i in range(len(sizes))}, consumers=consumers,
                       model_inputs=[0], model_outputs=[n], aliases=list(aliases), scratch=scratch or {})


def test_chain_reuses_memory_and_keeps_io_outside_the_arena():
    plan, _ = planner.plan(_chain([50, 100, 200, 100, 10]))
    planner.check_plan(plan)
    assert plan.storage(0) == EXTERNAL_INPUT and plan.storage(4) == EXTERNAL_OUTPUT
    # op1 needs t1 + t2, op2 needs t2 + t3: t1 and t3 share bytes after t2.
    assert plan.offset(2) == 0
    assert plan.offset(1) == plan.offset(3) == 208  # 200 rounded up to 16
    assert plan.arena_bytes == 320                   # 308, aligned
    assert plan.tensor_data_bytes == 400


def test_offsets_are_16_byte_aligned():
    plan, _ = planner.plan(_chain([8, 7, 33, 5, 19, 3]))
    planner.check_plan(plan)
    assert all(off % 16 == 0 for off in plan.offsets.values())


def test_lifetime_extends_to_the_last_reader():
    # t1 is also read by op3 (a skip connection): it must survive t2 and t3.
    plan, _ = planner.plan(_chain([10, 100, 100, 100, 10], extra_consumers={1: [3]}))
    planner.check_plan(plan)
    assert plan.lifetimes[1] == (0, 3)
    assert len({plan.offset(1), plan.offset(2), plan.offset(3)}) == 3


def test_in_place_only_when_the_input_dies():
    # op1 is element-wise over t1, which nobody reads later: same bytes.
    plan, accepted = planner.plan(_chain([10, 64, 64, 32, 10], aliases=[(1, 1, 2, True)]))
    assert accepted == {1}
    assert plan.offset(1) == plan.offset(2)
    assert plan.arena_bytes == 96            # the shared 64 bytes + t3
    # Same, but op3 still reads t1: refused.
    plan, accepted = planner.plan(_chain([10, 64, 64, 32, 10], aliases=[(1, 1, 2, True)],
                                         extra_consumers={1: [3]}))
    assert accepted == set()
    planner.check_plan(plan)
    assert plan.offset(1) != plan.offset(2)


def test_never_in_place_over_the_callers_input():
    plan, accepted = planner.plan(_chain([64, 64, 10], aliases=[(0, 0, 1, True)]))
    assert accepted == set() and plan.storage(1) == ARENA


def test_view_of_the_input_stays_in_the_callers_buffer():
    plan, accepted = planner.plan(_chain([64, 64, 10], aliases=[(0, 0, 1, False)]))
    assert accepted == {0}
    assert plan.storage(1) == EXTERNAL_INPUT
    assert plan.arena_bytes == 0


def test_view_never_joins_input_and_output():
    plan, accepted = planner.plan(_chain([64, 64], aliases=[(0, 0, 1, False)]))
    assert accepted == set()
    assert plan.storage(0) == EXTERNAL_INPUT and plan.storage(1) == EXTERNAL_OUTPUT


def test_in_place_never_grows_the_callers_output():
    # op1 writes its 48-byte output over t1 (64 bytes), the model output: t1
    # would have to live in the caller's 48-byte buffer, so no aliasing.
    plan, accepted = planner.plan(_chain([10, 64, 48], aliases=[(1, 1, 2, True)]))
    assert accepted == set()
    assert plan.storage(1) == ARENA and plan.storage(2) == EXTERNAL_OUTPUT
    # Shrinking in place inside the arena is fine.
    plan, accepted = planner.plan(_chain([10, 64, 48, 10], aliases=[(1, 1, 2, True)]))
    assert accepted == {1} and plan.offset(1) == plan.offset(2)


def test_scratch_only_when_run_in_place():
    req = _chain([10, 64, 64, 10], aliases=[(1, 1, 2, True)])
    req.scratch_in_place = {1: 24}
    plan, accepted = planner.plan(req)
    assert accepted == {1} and plan.buffers[plan.scratch_buffer[1]].size_bytes == 24
    req = _chain([10, 64, 64, 10], aliases=[(1, 1, 2, True)], extra_consumers={1: [2]})
    req.scratch_in_place = {1: 24}
    plan, accepted = planner.plan(req)
    assert accepted == set() and 1 not in plan.scratch_buffer


def test_scratch_lives_only_during_its_operator():
    plan, _ = planner.plan(_chain([10, 100, 100, 100, 10], scratch={1: 48, 3: 48}))
    planner.check_plan(plan)
    s1, s3 = (plan.buffers[plan.scratch_buffer[k]] for k in (1, 3))
    assert (s1.first_op, s1.last_op) == (1, 1)
    assert plan.arena_bytes <= 2 * 112 + 48


def test_overlap_detector_catches_a_bad_plan():
    plan, _ = planner.plan(_chain([10, 100, 100, 10]))
    plan.buffers[plan.tensor_buffer[2]].offset = plan.offset(1)
    with pytest.raises(AssertionError):
        planner.check_plan(plan)


def test_shared_models_plans_fit_under_tflite_micro(shared_models):
    from tinyml.interpreters import tflm_arena_bytes
    from tinyml.runtimes.aot import plan_arena
    from tinyml.tflite_model import load_model

    for name in ("kws_ref_model", "ad01_int8"):
        path = shared_models / f"{name}.tflite"
        plan = plan_arena(load_model(path))
        planner.check_plan(plan)
        assert plan.arena_bytes <= tflm_arena_bytes(path)
    # kws: two 25x5x64 activations are alive at once, nothing more.
    assert plan_arena(load_model(shared_models / "kws_ref_model.tflite")).arena_bytes <= 16000
