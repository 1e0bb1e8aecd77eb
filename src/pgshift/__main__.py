from pgshift.cli import main

main()
