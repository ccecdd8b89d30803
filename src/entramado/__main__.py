from entramado.cli import main

main()
