"""The "delivered but not seen" alerts: a change that needed the carer's acknowledgement
(docs/protocol.md 4b) reached a phone of theirs but was not seen in time."""
