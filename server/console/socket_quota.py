"""Console sockets per staff user on one node.

A socket takes its place once its token is authenticated, before anything else is done
for it, and gives it back when it closes: sockets greeted at the same moment are counted
like sockets greeted one by one. The count is per node (docs/security.md): behind a load
balancer spreading one user over N nodes, the user may hold N times the cap.

While a user holds sockets, the quota remembers which tokens (by hash) they came with, so
a token whose user is at the cap is refused before its database check: a client that
reconnects the moment it is refused costs the node no read. This is only ever used to
refuse, never to admit, so it cannot let a revoked token in.
"""

from __future__ import annotations


class StaffSocketQuota:
    def __init__(self, per_user: int) -> None:
        self.per_user = per_user
        """Sockets one user may hold at once; 0: no cap."""
        self._held: dict[str, int] = {}
        self._user_of_token: dict[str, str] = {}
        self._tokens_of_user: dict[str, set[str]] = {}

    def take(self, user_id: str, token_hash: str) -> bool:
        """Take a place for a socket of ``user_id``; False when the user has none left."""
        held = self._held.get(user_id, 0)
        if self.per_user and held >= self.per_user:
            return False
        self._held[user_id] = held + 1
        self._user_of_token[token_hash] = user_id
        self._tokens_of_user.setdefault(user_id, set()).add(token_hash)
        return True

    def give_back(self, user_id: str) -> None:
        held = self._held.get(user_id, 0) - 1
        if held > 0:
            self._held[user_id] = held
            return
        self._held.pop(user_id, None)
        for token_hash in self._tokens_of_user.pop(user_id, ()):
            self._user_of_token.pop(token_hash, None)

    def full_for(self, token_hash: str) -> bool:
        """Whether ``token_hash`` belongs to a user at the cap (as far as sockets held here tell)."""
        user_id = self._user_of_token.get(token_hash)
        return bool(self.per_user) and user_id is not None and self._held.get(user_id, 0) >= self.per_user

    def held(self, user_id: str) -> int:
        return self._held.get(user_id, 0)
