"""Dispatch: work orders (工单), units, hotlines, the life cycle, deadlines and supervision."""
