"""The emulated Exchange address-book provider (KB 929439 reconnect logic) on real protocol clients."""

from fakegc.client.machine import Happening, Mode, State, decide
from fakegc.client.provider import AddressBook, Profile
from fakegc.client.transport import AbTransport, Credentials, Endpoints

__all__ = [
           "AbTransport",
           "AddressBook",
           "Credentials",
           "Endpoints",
           "Happening",
           "Mode",
           "Profile",
           "State",
           "decide",
]
