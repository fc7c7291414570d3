"""Optimal assignment (the Hungarian method with row/column potentials),
written here so that neither SciPy nor a GPL tracker is needed.

:func:`assign` pairs rows with columns of a cost matrix at the least total
cost; the tracker uses it to pair tracks with detections, the metrics to
pair ground-truth identities with track ids.
"""

from __future__ import annotations

import numpy as np


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
    transposed = n_rows > n_cols
    if transposed:
        cost = cost.T
        n_rows, n_cols = n_cols, n_rows
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
