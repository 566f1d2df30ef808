"""``make bench``: the cancellation check, its flatness, cancel latency, dispatch
throughput, memory and import speed, each beside the alternatives, measured side
by side in one run and reported as ratios."""
