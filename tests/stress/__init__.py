"""Stress and fault drills on the real service: `cunzheng serve` killed with SIGKILL under
load, the chain stopped under load, anchoring transactions reorged out, the database
tampered with. Each runs the real thing and checks what a client was promised (receipts,
checkpoints, anchors, verification answers) after the fault."""
