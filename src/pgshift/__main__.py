from pgshift.cli.app import main

main()
