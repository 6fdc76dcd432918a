"""``disgorge demo``: the OkCupid story on a generated corpus, end to end."""

from disgorge.demo.story import DemoOptions, run_demo

__all__ = ["DemoOptions", "run_demo"]
