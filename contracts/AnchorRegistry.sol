// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {AccessRoles} from "./AccessRoles.sol";
import {IAnchorRegistry} from "./IAnchorRegistry.sol";

/**
 * @title AnchorRegistry
 * @notice Cunzheng's on-chain anchor: checkpoints of the RFC 9162 evidence log, each an
 * append-only extension of the one before, proven by a consistency proof verified here,
 * and the cosignatures of neutral witnesses (a notary office, an arbitration commission,
 * a court).
 *
 * Roles: `DEFAULT_ADMIN_ROLE` manages roles; `ANCHORER_ROLE` anchors; `WITNESS_ROLE`
 * cosigns.
 *
 * @dev The consistency check is consensus-critical: it is RFC 9162 section 2.1.4.2 step
 * by step, with SHA-256 (precompile 0x02) over `0x01 || left || right` for interior nodes.
 *
 * Security caveats:
 * - The registry proves that anchored roots only ever extend each other; it cannot know
 *   whether the added leaves are events the log really accepted. An anchorer key can
 *   anchor a bogus extension, after which the honest log no longer extends the chain's
 *   latest root: that attack is visible on chain but not preventable here. Witnesses must
 *   cosign only checkpoints they checked against their own copy of the log.
 * - No one, the admin included, can change or remove an anchored root. There is no
 *   upgrade path and no pause.
 * - The recorded timestamp is the block's, chosen by the block producer within the
 *   chain's consensus rules; an anchor is final only once its block is final.
 * - A cosignature stays recorded after its witness loses the role; verifiers should weigh
 *   cosigners by the role history ({RoleGranted}, {RoleRevoked}) at the cosigning block.
 */
contract AnchorRegistry is AccessRoles, IAnchorRegistry {
    /// @notice May anchor checkpoints.
    bytes32 public constant ANCHORER_ROLE = keccak256("ANCHORER_ROLE");

    /// @notice May cosign anchored checkpoints.
    bytes32 public constant WITNESS_ROLE = keccak256("WITNESS_ROLE");

    /// @notice Longest accepted consistency proof: the longest RFC 9162 consistency proof
    /// between two trees of fewer than 2^64 leaves has 65 hashes (from 2^64 - 3 leaves to
    /// 2^64 - 1), so every pair of `uint64` sizes stays provable.
    uint256 public constant MAX_PROOF_LENGTH = 65;

    struct Checkpoint {
        bytes32 root;
        uint64 blockNumber;
        uint64 timestamp;
    }

    mapping(uint64 size => Checkpoint) private _checkpoints;
    mapping(uint64 size => address[]) private _cosigners;
    mapping(uint64 size => mapping(address witness => bool)) private _hasCosigned;
    uint64 private _latestSize;

    /**
     * @param admin receives `DEFAULT_ADMIN_ROLE`
     * @param anchorers receive `ANCHORER_ROLE`
     * @param witnesses receive `WITNESS_ROLE`
     */
    constructor(address admin, address[] memory anchorers, address[] memory witnesses) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i = 0; i < anchorers.length; ++i) {
            _grantRole(ANCHORER_ROLE, anchorers[i]);
        }
        for (uint256 i = 0; i < witnesses.length; ++i) {
            _grantRole(WITNESS_ROLE, witnesses[i]);
        }
    }

    /// @inheritdoc IAnchorRegistry
    function anchor(
        uint64 treeSize,
        bytes32 root,
        bytes32[] calldata consistencyProof
    ) external onlyRole(ANCHORER_ROLE) {
        uint64 previousSize = _latestSize;
        if (treeSize <= previousSize) {
            revert SizeNotGreater(previousSize, treeSize);
        }
        if (consistencyProof.length > MAX_PROOF_LENGTH) {
            revert ProofTooLong(consistencyProof.length, MAX_PROOF_LENGTH);
        }
        if (previousSize == 0) {
            if (consistencyProof.length != 0) {
                revert ProofLengthMismatch(0, treeSize, consistencyProof.length);
            }
        } else {
            _verifyConsistency(
                previousSize,
                treeSize,
                _checkpoints[previousSize].root,
                root,
                consistencyProof
            );
        }

        _checkpoints[treeSize] = Checkpoint({
            root: root,
            blockNumber: uint64(block.number),
            timestamp: uint64(block.timestamp)
        });
        _latestSize = treeSize;
        emit Anchored(treeSize, root, previousSize);
    }

    /// @inheritdoc IAnchorRegistry
    function cosign(uint64 treeSize, bytes32 root) external onlyRole(WITNESS_ROLE) {
        bytes32 anchored = _anchoredRoot(treeSize);
        if (root != anchored) {
            revert RootMismatch(anchored, root);
        }
        if (_hasCosigned[treeSize][msg.sender]) {
            revert AlreadyCosigned(treeSize, msg.sender);
        }
        _hasCosigned[treeSize][msg.sender] = true;
        _cosigners[treeSize].push(msg.sender);
        emit Cosigned(treeSize, msg.sender);
    }

    /// @inheritdoc IAnchorRegistry
    function rootAt(uint64 size) external view returns (bytes32) {
        return _anchoredRoot(size);
    }

    /// @inheritdoc IAnchorRegistry
    function latest() external view returns (uint64 size, bytes32 root) {
        size = _latestSize;
        root = _checkpoints[size].root;
    }

    /// @inheritdoc IAnchorRegistry
    function anchoredAt(uint64 size) external view returns (uint64 blockNumber, uint64 timestamp) {
        Checkpoint storage checkpoint = _checkpoints[size];
        if (checkpoint.blockNumber == 0) {
            revert NotAnchored(size);
        }
        return (checkpoint.blockNumber, checkpoint.timestamp);
    }

    /// @inheritdoc IAnchorRegistry
    function isAnchored(uint64 size) external view returns (bool) {
        return _checkpoints[size].blockNumber != 0;
    }

    /// @inheritdoc IAnchorRegistry
    function cosigners(uint64 size) external view returns (address[] memory) {
        _anchoredRoot(size);
        return _cosigners[size];
    }

    /// @dev A checkpoint exists iff its block number is set: no transaction runs in block 0.
    function _anchoredRoot(uint64 size) private view returns (bytes32) {
        Checkpoint storage checkpoint = _checkpoints[size];
        if (checkpoint.blockNumber == 0) {
            revert NotAnchored(size);
        }
        return checkpoint.root;
    }

    /**
     * @dev RFC 9162 section 2.1.4.2, verifying a consistency proof from the tree of `first`
     * leaves with root `firstRoot` to the tree of `second` leaves with root `secondRoot`,
     * for 0 < first < second. Reverts unless the proof verifies. Whether a proof has the
     * right length depends on the sizes alone (`fn` and `sn` evolve the same whatever the
     * hashes), so a truncated or padded proof always ends in {ProofLengthMismatch}.
     */
    function _verifyConsistency(
        uint64 first,
        uint64 second,
        bytes32 firstRoot,
        bytes32 secondRoot,
        bytes32[] calldata proof
    ) private view {
        uint256 length = proof.length;
        // Step 1: an empty proof never verifies when first < second.
        if (length == 0) {
            revert ProofLengthMismatch(first, second, length);
        }
        // Step 2: when first is a power of two, its root is the implicit first element.
        uint256 next;
        bytes32 fr;
        if (first & (first - 1) == 0) {
            fr = firstRoot;
        } else {
            fr = proof[0];
            next = 1;
        }
        bytes32 sr = fr;
        // Steps 3 and 4.
        uint256 fn = first - 1;
        uint256 sn = second - 1;
        while (fn & 1 == 1) {
            fn >>= 1;
            sn >>= 1;
        }
        // Step 6, in assembly because it is the whole cost of a proof: per element one
        // calldata read and one or two SHA-256 precompile calls over 0x01 || left || right,
        // built in scratch memory past the free pointer (never allocated). Line for line:
        //   if sn == 0: fail (proof too long)
        //   if LSB(fn) or fn == sn: fr = H(c, fr); sr = H(c, sr);
        //       if not LSB(fn): shift fn, sn right until LSB(fn) or fn == 0
        //   else: sr = H(sr, c)
        //   shift fn, sn right once
        bool tooLong;
        assembly ("memory-safe") {
            let buf := mload(0x40)
            mstore8(buf, 0x01)
            let left := add(buf, 0x01)
            let right := add(buf, 0x21)
            let end := add(proof.offset, shl(5, length))
            for {
                let at := add(proof.offset, shl(5, next))
            } lt(at, end) {
                at := add(at, 0x20)
            } {
                if iszero(sn) {
                    tooLong := 1
                    break
                }
                let c := calldataload(at)
                switch or(and(fn, 1), eq(fn, sn))
                case 0 {
                    mstore(left, sr)
                    mstore(right, c)
                    if iszero(staticcall(gas(), 0x02, buf, 0x41, 0x00, 0x20)) {
                        revert(0, 0)
                    }
                    sr := mload(0x00)
                }
                default {
                    mstore(left, c)
                    mstore(right, fr)
                    if iszero(staticcall(gas(), 0x02, buf, 0x41, 0x00, 0x20)) {
                        revert(0, 0)
                    }
                    fr := mload(0x00)
                    mstore(right, sr)
                    if iszero(staticcall(gas(), 0x02, buf, 0x41, 0x00, 0x20)) {
                        revert(0, 0)
                    }
                    sr := mload(0x00)
                    if iszero(and(fn, 1)) {
                        for {} and(iszero(and(fn, 1)), iszero(iszero(fn))) {} {
                            fn := shr(1, fn)
                            sn := shr(1, sn)
                        }
                    }
                }
                fn := shr(1, fn)
                sn := shr(1, sn)
            }
        }
        if (tooLong) {
            revert ProofLengthMismatch(first, second, length);
        }
        // Step 7.
        if (sn != 0) {
            revert ProofLengthMismatch(first, second, length);
        }
        if (fr != firstRoot) {
            revert InconsistentProof(first, firstRoot, fr);
        }
        if (sr != secondRoot) {
            revert InconsistentProof(second, secondRoot, sr);
        }
    }
}
