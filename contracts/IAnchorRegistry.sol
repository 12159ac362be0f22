// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IAnchorRegistry
 * @notice Anchors the checkpoints of an append-only RFC 9162 Merkle log (tree size and
 * root) and records the neutral witnesses that cosign them.
 *
 * Every anchor after the first must come with an RFC 9162 consistency proof (section
 * 2.1.4) from the last anchored checkpoint, verified on chain with SHA-256 and the node
 * prefix `0x01`: the registry never accepts a root that is not an append-only extension of
 * the last one, whoever sends it.
 */
interface IAnchorRegistry {
    /// @notice `given` is not greater than the last anchored tree size `last`.
    error SizeNotGreater(uint64 last, uint64 given);

    /// @notice The proof has `length` hashes, more than the bound `max`.
    error ProofTooLong(uint256 length, uint256 max);

    /// @notice A proof of `length` hashes cannot link `previousSize` to `treeSize`: the
    /// first anchor (`previousSize` 0) takes an empty proof; any other takes exactly as many
    /// hashes as RFC 9162 section 2.1.4.1 produces for the pair.
    error ProofLengthMismatch(uint64 previousSize, uint64 treeSize, uint256 length);

    /// @notice Verifying the consistency proof gave `computed` for the tree of `size` leaves
    /// where `expected` was required: the anchored root when `size` is the previous size,
    /// the submitted root when it is the new one.
    error InconsistentProof(uint64 size, bytes32 expected, bytes32 computed);

    /// @notice No checkpoint is anchored for `size`.
    error NotAnchored(uint64 size);

    /// @notice The root anchored for the size is `expected`, not `given`.
    error RootMismatch(bytes32 expected, bytes32 given);

    /// @notice `witness` has already cosigned the checkpoint of `treeSize`.
    error AlreadyCosigned(uint64 treeSize, address witness);

    /// @notice The log of `treeSize` leaves with `root` was anchored; it extends the
    /// checkpoint of `previousSize` leaves (0 for the first anchor).
    event Anchored(uint64 indexed treeSize, bytes32 root, uint64 previousSize);

    /// @notice `witness` confirmed the anchored checkpoint of `treeSize` leaves.
    event Cosigned(uint64 indexed treeSize, address indexed witness);

    /// @notice Anchors the checkpoint (`treeSize`, `root`). Caller must hold the anchorer
    /// role; `treeSize` must exceed the last anchored size; `consistencyProof` is the RFC
    /// 9162 consistency proof from the last anchored checkpoint to this one (empty for the
    /// first anchor). Emits {Anchored}.
    function anchor(uint64 treeSize, bytes32 root, bytes32[] calldata consistencyProof) external;

    /// @notice Records that the calling witness confirms the checkpoint (`treeSize`,
    /// `root`). Caller must hold the witness role; `root` must equal the anchored root of
    /// `treeSize`; a witness cosigns a checkpoint once. Emits {Cosigned}.
    function cosign(uint64 treeSize, bytes32 root) external;

    /// @notice The root anchored for `size`; reverts with {NotAnchored} if there is none.
    function rootAt(uint64 size) external view returns (bytes32);

    /// @notice The last anchored checkpoint, or (0, 0x00) before the first anchor.
    function latest() external view returns (uint64 size, bytes32 root);

    /// @notice The block that anchored `size`; reverts with {NotAnchored} if none did.
    function anchoredAt(uint64 size) external view returns (uint64 blockNumber, uint64 timestamp);

    /// @notice Whether a checkpoint of `size` leaves is anchored.
    function isAnchored(uint64 size) external view returns (bool);

    /// @notice The witnesses that cosigned the checkpoint of `size`, in cosigning order;
    /// reverts with {NotAnchored} if `size` is not anchored.
    function cosigners(uint64 size) external view returns (address[] memory);
}
