// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/**
 * @title IAccessRoles
 * @notice Role-based access control in the style of OpenZeppelin's `IAccessControl`, kept
 * self-contained so the code that guards the anchored roots is all in this repository.
 *
 * Roles are `bytes32` identifiers: `DEFAULT_ADMIN_ROLE` is `0x00`, every other role is the
 * keccak256 hash of its name. Every role is administered by `DEFAULT_ADMIN_ROLE`.
 */
interface IAccessRoles {
    /// @notice `account` lacks `role`, which the called function requires.
    error NotAuthorized(bytes32 role, address account);

    /// @notice `renounceRole` was called for an account other than the caller.
    error BadConfirmation(address caller, address confirmation);

    /// @notice The zero address was given where an account is required.
    error ZeroAddress();

    /// @notice `account` was granted `role` by `sender`.
    event RoleGranted(bytes32 indexed role, address indexed account, address indexed sender);

    /// @notice `account` lost `role`; `sender` is the admin who revoked it or the account
    /// itself when it renounced.
    event RoleRevoked(bytes32 indexed role, address indexed account, address indexed sender);

    /// @notice Whether `account` holds `role`.
    function hasRole(bytes32 role, address account) external view returns (bool);

    /// @notice The role that administers `role` (always `DEFAULT_ADMIN_ROLE` here).
    function getRoleAdmin(bytes32 role) external view returns (bytes32);

    /// @notice Grants `role` to `account`. Caller must hold the admin role of `role`.
    /// Emits {RoleGranted} if `account` did not already hold it.
    function grantRole(bytes32 role, address account) external;

    /// @notice Revokes `role` from `account`. Caller must hold the admin role of `role`.
    /// Emits {RoleRevoked} if `account` held it.
    function revokeRole(bytes32 role, address account) external;

    /// @notice The caller gives up `role`; `callerConfirmation` must be the caller's address,
    /// so that a role is never renounced by a mistyped call. Emits {RoleRevoked} if held.
    function renounceRole(bytes32 role, address callerConfirmation) external;
}
