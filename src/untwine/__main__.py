from untwine.cli import main

main()
