"""{{name}}: an autopilot placement policy.

Every method of `Policy` defaults to the stable policy; override what differs. This one
promotes at most one stable non-voter per round (the best first, in the reference's
order), so the cluster gains one voter at a time.
"""

from autopilot_policy import Changes, Policy, RaftState, is_stable, sort_servers


class {{Type}}(Policy):
    name = "{{name}}"
    version = "0.1.0"
    # This policy judges health and roles only: the host need not send names,
    # addresses, versions or metadata, and rounds cost less.
    reads_server_details = False

    def changes(self, config, state):
        ready = [
            i for i, s in state.servers.items()
            if s.raft_state == RaftState.NON_VOTER and is_stable(state, s)
        ]
        sort_servers(ready, state)
        return Changes(promotions=ready[:1])
