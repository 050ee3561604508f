"""`python -m devstack` (`make run`): broker, audit and user, Ctrl-C stops all three."""

from devstack.supervisor import main

main()
