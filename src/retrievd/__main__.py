from retrievd.cli import main

main()
