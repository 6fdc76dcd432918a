from disgorge.cli import run

run()
