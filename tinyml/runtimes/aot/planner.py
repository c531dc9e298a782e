"""Static memory plan of the AOT runtime's tensor arena.

Every activation tensor gets a fixed offset in one arena, decided here at
generation time. Tensors whose lifetimes (producing operator .. last reading
operator) do not overlap share bytes. Buffers are placed like TFLite Micro's
GreedyMemoryPlanner (largest first, lowest 16-byte-aligned offset that does
not collide with a buffer alive at the same time); several placement orders
are tried and the smallest arena wins, so the plan is never larger than the
order TFLM uses.

Two things make the arena smaller than TFLM's for the same model:
- the model input and output live in the caller's buffers (`tinyml_invoke`'s
  arguments), not in the arena;
- tensors share one buffer when an operator does not need a copy: RESHAPE
  output aliases its input, and element-wise operators (lookup tables) run in
  place when their input dies at that operator.
Operators may also ask for a scratch buffer (im2col patches) alive only
during that operator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALIGN_BYTES = 16

EXTERNAL_INPUT = "input"
EXTERNAL_OUTPUT = "output"
ARENA = "arena"


def align_up(n: int, a: int = ALIGN_BYTES) -> int:
    return (n + a - 1) // a * a


@dataclass
class Buffer:
    """Bytes shared by one or more tensors (aliases), or one scratch area."""
    id: int
    size_bytes: int
    first_op: int
    last_op: int
    tensors: list[int] = field(default_factory=list)
    storage: str = ARENA           # arena, or the caller's input / output buffer
    offset: int = 0                # in the arena (storage == arena)
    scratch_of_op: int | None = None


@dataclass
class ArenaPlan:
    arena_bytes: int
    buffers: list[Buffer]
    tensor_buffer: dict[int, int]          # tensor index -> buffer id
    scratch_buffer: dict[int, int]         # operator index -> buffer id
    lifetimes: dict[int, tuple[int, int]]  # tensor index -> (first op, last op)
    strategy: str = ""

    def buffer_of(self, tensor_index: int) -> Buffer:
        return self.buffers[self.tensor_buffer[tensor_index]]

    def offset(self, tensor_index: int) -> int:
        return self.buffer_of(tensor_index).offset

    def storage(self, tensor_index: int) -> str:
        return self.buffer_of(tensor_index).storage

    @property
    def offsets(self) -> dict[int, int]:
        return {t: self.buffers[b].offset for t, b in self.tensor_buffer.items()
                if self.buffers[b].storage == ARENA}

    @property
    def tensor_data_bytes(self) -> int:
        """Sum of the arena buffers' sizes (the arena without any reuse)."""
        return sum(b.size_bytes for b in self.buffers if b.storage == ARENA)


@dataclass
class PlanRequest:
    """What the planner needs to know about the graph (built by the code generator)."""
    op_count: int
    tensor_sizes: dict[int, int]                   # every activation tensor -> bytes
    producers: dict[int, int]                      # tensor -> producing op (-1: model input)
    consumers: dict[int, list[int]]                # tensor -> reading ops
    model_inputs: list[int]
    model_outputs: list[int]
    aliases: list[tuple[int, int, int, bool]]      # (op, input tensor, output tensor, in_place)
    scratch: dict[int, int]                        # op -> scratch bytes
    scratch_in_place: dict[int, int] = field(default_factory=dict)  # op -> bytes if run in place


def plan(req: PlanRequest) -> tuple[ArenaPlan, set[int]]:
    """Plan the arena. Returns the plan and the set of operators whose alias
    was accepted (their output shares the input's bytes: no copy needed)."""
    last_op = req.op_count - 1
    lifetimes: dict[int, tuple[int, int]] = {}
    for t in req.tensor_sizes:
        first = req.producers.get(t, -1)
        first = 0 if first < 0 else first
        uses = req.consumers.get(t, [])
        last = max(uses) if uses else first
        if t in req.model_inputs:
            first = 0
        if t in req.model_outputs:
            last = max(last, last_op)
        lifetimes[t] = (first, last)

    # Union tensors into buffers.
    parent = {t: t for t in req.tensor_sizes}

    def find(t: int) -> int:
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    def members(root: int) -> list[int]:
        return [t for t in req.tensor_sizes if find(t) == root]

    def external(root: int) -> set[str]:
        kinds = set()
        for t in members(root):
            if t in req.model_inputs:
                kinds.add(EXTERNAL_INPUT)
            if t in req.model_outputs:
                kinds.add(EXTERNAL_OUTPUT)
        return kinds

    accepted: set[int] = set()
    for op, src, dst, in_place in req.aliases:
        if src not in parent or dst not in parent:
            continue
        rs, rd = find(src), find(dst)
        if rs == rd:
            continue
        ext = external(rs) | external(rd)
        if len(ext) > 1:
            continue  # would make the caller's input and output the same bytes
        # A view has the input's bytes; an in-place kernel may write fewer.
        if (req.tensor_sizes[dst] > req.tensor_sizes[src] if in_place
                else req.tensor_sizes[dst] != req.tensor_sizes[src]):
            continue
        group = members(rs)
        if ext:
            # The caller's buffer holds exactly its tensor: nothing bigger may live there.
            ext_size = min(req.tensor_sizes[t] for t in group + members(rd)
                           if t in req.model_inputs or t in req.model_outputs)
            if max(req.tensor_sizes[t] for t in group + members(rd)) > ext_size:
                continue
        if in_place:
            # Writing over the input is only safe if nothing reads the input's
            # bytes after this operator, and never over the caller's const input.
            if EXTERNAL_INPUT in ext:
                continue
            if any(lifetimes[t][1] > op for t in group):
                continue
        else:
            # A view (RESHAPE): the bytes must not be overwritten in place later
            # while another member still reads them; in-place users check that
            # through the merged lifetimes, so a view is always acceptable.
            pass
        parent[rd] = rs
        accepted.add(op)

    roots: dict[int, list[int]] = {}
    for t in req.tensor_sizes:
        roots.setdefault(find(t), []).append(t)

    buffers: list[Buffer] = []
    tensor_buffer: dict[int, int] = {}
    for root in sorted(roots):
        ts = sorted(roots[root])
        first = min(lifetimes[t][0] for t in ts)
        last = max(lifetimes[t][1] for t in ts)
        ext = external(root)
        storage = EXTERNAL_INPUT if EXTERNAL_INPUT in ext else EXTERNAL_OUTPUT if ext else ARENA
        b = Buffer(id=len(buffers), size_bytes=max(req.tensor_sizes[t] for t in ts),
                   first_op=first, last_op=last, tensors=ts, storage=storage)
        buffers.append(b)
        for t in ts:
            tensor_buffer[t] = b.id
    scratch_buffer: dict[int, int] = {}
    scratch = dict(req.scratch)
    for op, size in req.scratch_in_place.items():
        if op in accepted:
            scratch[op] = size
    for op in sorted(scratch):
        if scratch[op] <= 0:
            continue
        b = Buffer(id=len(buffers), size_bytes=scratch[op], first_op=op, last_op=op,
                   scratch_of_op=op)
        buffers.append(b)
        scratch_buffer[op] = b.id

    arena_buffers = [b for b in buffers if b.storage == ARENA]
    best: tuple[int, dict[int, int], str] | None = None
    orders = {
        "size": sorted(arena_buffers, key=lambda b: (-b.size_bytes, b.first_op, b.id)),
        "first-use": sorted(arena_buffers, key=lambda b: (b.first_op, -b.size_bytes, b.id)),
        "lifetime": sorted(arena_buffers, key=lambda b: (-(b.last_op - b.first_op), -b.size_bytes, b.id)),
        "area": sorted(arena_buffers, key=lambda b: (-(b.size_bytes * (b.last_op - b.first_op + 1)),
                                                     b.id)),
    }
    for name, order in orders.items():
        offsets = _greedy(order)
        total = max((offsets[b.id] + b.size_bytes for b in arena_buffers), default=0)
        if best is None or total < best[0]:
            best = (total, offsets, name)
    assert best is not None
    total, offsets, name = best
    for b in arena_buffers:
        b.offset = offsets[b.id]
    return ArenaPlan(arena_bytes=align_up(total) if total else 0, buffers=buffers,
                     tensor_buffer=tensor_buffer, scratch_buffer=scratch_buffer,
                     lifetimes=lifetimes, strategy=name), accepted


def _greedy(order: list[Buffer]) -> dict[int, int]:
    placed: list[Buffer] = []
    offsets: dict[int, int] = {}
    for b in order:
        live = sorted((p for p in placed if p.first_op <= b.last_op and b.first_op <= p.last_op),
                      key=lambda p: offsets[p.id])
        candidate = 0
        for p in live:
            if candidate + b.size_bytes <= offsets[p.id]:
                break
            candidate = max(candidate, align_up(offsets[p.id] + p.size_bytes))
        offsets[b.id] = candidate
        placed.append(b)
    return offsets


def check_plan(p: ArenaPlan) -> None:
    """Assert that no two buffers alive at the same time overlap (used by tests)."""
    arena = [b for b in p.buffers if b.storage == ARENA]
    for i, a in enumerate(arena):
        assert a.offset % ALIGN_BYTES == 0, f"buffer {a.id} misaligned"
        assert a.offset + a.size_bytes <= p.arena_bytes
        for b in arena[i + 1:]:
            if a.first_op <= b.last_op and b.first_op <= a.last_op:
                assert a.offset + a.size_bytes <= b.offset or b.offset + b.size_bytes <= a.offset, \
                    f"buffers {a.id} and {b.id} overlap while both alive"
