from hyperion_host.cli import main

main()
