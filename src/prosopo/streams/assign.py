"""Optimal assignment (the Hungarian method with row/column potentials),
written here so that neither SciPy nor a GPL tracker is needed.

:func:`assign` pairs rows with columns of a cost matrix at the least total
cost; the tracker uses it to pair tracks with detections, the metrics to
pair ground-truth identities with track ids.
"""

from __future__ import annotations

import numpy as np

# Up to this many columns (rows, if more), :func:`assign` works on Python
# lists: numpy's cost per call dominates there. Measured: 3 against 30 us
# for 3x2, 45 against 259 for 12x12, 2.1 against 4.4 ms for 60x60; from
# 100x100, or 10x300, numpy is as fast or faster.
SMALL = 80


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(row, column)`` of a minimum-cost matching of a 2-D ``cost``
    matrix: every row is matched when there are no more rows than columns,
    else every column. Costs must be finite."""
    cost = np.asarray(cost, dtype=np.float64)
    if cost.ndim != 2:
        raise ValueError(f"cost must be a 2-D matrix, got shape {cost.shape}")
    n_rows, n_cols = cost.shape
    if n_rows == 0 or n_cols == 0:
        return []
    if not np.isfinite(cost).all():  # the method would never end on them
        raise ValueError("costs must be finite numbers")
    transposed = n_rows > n_cols
    if transposed:
        cost = cost.T
        n_rows, n_cols = n_cols, n_rows
    if n_cols <= SMALL:
        pairs = _assign_lists(cost.tolist())
        return sorted((c, r) for r, c in pairs) if transposed else sorted(pairs)
    # Shortest augmenting paths with potentials u (rows) and v (columns);
    # column 0 is a virtual start, rows and columns are numbered from 1.
    u = np.zeros(n_rows + 1)
    v = np.zeros(n_cols + 1)
    owner = np.zeros(n_cols + 1, dtype=np.int64)  # owner[j]: row matched to column j (0: none)
    for row in range(1, n_rows + 1):
        owner[0] = row
        col = 0
        dist = np.full(n_cols + 1, np.inf)
        came_from = np.zeros(n_cols + 1, dtype=np.int64)
        done = np.zeros(n_cols + 1, dtype=bool)
        while True:
            done[col] = True
            r = owner[col]
            free = ~done[1:]
            reduced = cost[r - 1] - u[r] - v[1:]
            better = free & (reduced < dist[1:])
            dist[1:][better] = reduced[better]
            came_from[1:][better] = col
            candidates = np.where(free, dist[1:], np.inf)
            nxt = int(np.argmin(candidates)) + 1
            delta = candidates[nxt - 1]
            # shift the potentials so that the tight edges stay tight
            u[owner[done]] += delta
            v[done] -= delta
            dist[1:][free] -= delta
            col = nxt
            if owner[col] == 0:
                break
        while col:  # flip the augmenting path
            prev = came_from[col]
            owner[col] = owner[prev]
            col = prev
    pairs = [(int(owner[j]) - 1, j - 1) for j in range(1, n_cols + 1) if owner[j]]
    if transposed:
        pairs = [(c, r) for r, c in pairs]
    return sorted(pairs)


def _assign_lists(cost: list[list[float]]) -> list[tuple[int, int]]:
    """:func:`assign`'s method on Python lists, rows no more than columns:
    the same steps, the same pairs."""
    n_rows, n_cols = len(cost), len(cost[0])
    inf = float("inf")
    u = [0.0] * (n_rows + 1)
    v = [0.0] * (n_cols + 1)
    owner = [0] * (n_cols + 1)
    for row in range(1, n_rows + 1):
        owner[0] = row
        col = 0
        dist = [inf] * (n_cols + 1)
        came_from = [0] * (n_cols + 1)
        done = [False] * (n_cols + 1)
        while True:
            done[col] = True
            r = owner[col]
            costs, ur = cost[r - 1], u[r]
            delta, nxt = inf, 0
            for j in range(1, n_cols + 1):
                if done[j]:
                    continue
                reduced = costs[j - 1] - ur - v[j]
                if reduced < dist[j]:
                    dist[j] = reduced
                    came_from[j] = col
                if dist[j] < delta:
                    delta, nxt = dist[j], j
            for j in range(n_cols + 1):
                if done[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    dist[j] -= delta
            col = nxt
            if owner[col] == 0:
                break
        while col:
            prev = came_from[col]
            owner[col] = owner[prev]
            col = prev
    return [(owner[j] - 1, j - 1) for j in range(1, n_cols + 1) if owner[j]]


def assign_allowed(cost: np.ndarray, allowed: np.ndarray) -> list[tuple[int, int]]:
    """Pairs ``(row, column)`` with ``allowed[row, column]`` True (and a
    finite cost): as many as there can be, and among those the least total
    ``cost``. The rows and columns fall into groups that allowed pairs
    connect, and each group is solved on its own by :func:`assign`: the same
    pairs for far less work when most groups are one row and one column, as
    a tracker's are (70 tracks and 34 detections a frame of crowd.mp4 made
    1.6 ms of :func:`assign` over the whole matrix)."""
    cost = np.asarray(cost, dtype=np.float64)
    allowed = np.asarray(allowed, dtype=bool)
    if cost.ndim != 2 or allowed.shape != cost.shape:
        raise ValueError(f"cost and allowed must be 2-D matrices of one shape, got {cost.shape} and {allowed.shape}")
    allowed = allowed & np.isfinite(cost)  # a cost that is not a number allows no pair
    n_rows = cost.shape[0]
    rows, cols = np.nonzero(allowed)
    parent = list(range(n_rows + cost.shape[1]))  # rows, then columns shifted by n_rows

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r, c in zip(rows.tolist(), cols.tolist()):
        parent[root(r)] = root(n_rows + c)
    groups: dict[int, tuple[list[int], list[int]]] = {}
    for r in sorted(set(rows.tolist())):
        groups.setdefault(root(r), ([], []))[0].append(r)
    for c in sorted(set(cols.tolist())):
        groups.setdefault(root(n_rows + c), ([], []))[1].append(c)
    pairs = []
    costs: list[list[float]] = []
    for group_rows, group_cols in groups.values():
        if len(group_rows) == 1 and len(group_cols) == 1:
            pairs.append((group_rows[0], group_cols[0]))
            continue
        if not costs:  # read once, as lists: indexing them is cheaper than numpy's for small groups
            costs, oks = cost.tolist(), allowed.tolist()
        sub = [[costs[r][c] for c in group_cols] for r in group_rows]
        ok = [[oks[r][c] for c in group_cols] for r in group_rows]
        values = [x for xs, bs in zip(sub, ok) for x, b in zip(xs, bs) if b]
        low = min(values)
        # a pair not allowed costs more than any matching of allowed ones saves
        barred = (max(values) - low + 1.0) * (min(len(group_rows), len(group_cols)) + 1)
        shifted = [[x - low if b else barred for x, b in zip(xs, bs)] for xs, bs in zip(sub, ok)]
        for i, j in assign(np.array(shifted)):
            if ok[i][j]:
                pairs.append((group_rows[i], group_cols[j]))
    return sorted(pairs)
