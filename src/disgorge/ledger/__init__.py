"""The ledger core: RFC 9162 Merkle trees and C2SP signed checkpoints, pure code with no I/O.

``merkle`` hashes entries into an append-only tree and proves inclusion and consistency; ``note``
signs and verifies the checkpoints that commit to it. Storage of the log lives elsewhere.
"""
