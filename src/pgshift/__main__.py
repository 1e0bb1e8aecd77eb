from pgshift.cli.app import run

run()
