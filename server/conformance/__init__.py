"""The conformance kit: proves a device client, in any language, follows docs/protocol.md.

``caresync conformance --client "<command>"`` starts a real node (embedded store,
in-process bus), puts a fault-injecting proxy between it and the client under test, drives
the client through a small line-of-JSON adapter contract (docs/conformance.md) and the
office side through the node's own services, and writes JSON, JUnit XML and Markdown
reports. Every case has a stable id, a level and the section of docs/protocol.md it checks.
"""
