from gdei_cli.cli import main

main()
