// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IAccessRoles} from "./IAccessRoles.sol";

/**
 * @title AccessRoles
 * @notice A minimal role module in the style of OpenZeppelin's `AccessControl`: role
 * constants are hashes, `DEFAULT_ADMIN_ROLE` administers every role, checks revert with
 * {NotAuthorized}.
 *
 * @dev Security caveats:
 * - An account holding `DEFAULT_ADMIN_ROLE` can grant and revoke every role, including its
 *   own; if the last admin renounces, roles can never change again. Keep the admin key
 *   offline (or behind a multisig) and distinct from the anchorer and witness keys.
 * - There is no role enumeration on chain: read {RoleGranted} and {RoleRevoked} events to
 *   list who held a role and when.
 */
abstract contract AccessRoles is IAccessRoles {
    /// @notice Administers every role. Its value is `0x00` as in OpenZeppelin.
    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;

    mapping(bytes32 role => mapping(address account => bool)) private _members;

    /// @dev Reverts with {NotAuthorized} unless the caller holds `role`.
    modifier onlyRole(bytes32 role) {
        _checkRole(role, msg.sender);
        _;
    }

    /// @inheritdoc IAccessRoles
    function hasRole(bytes32 role, address account) public view returns (bool) {
        return _members[role][account];
    }

    /// @inheritdoc IAccessRoles
    function getRoleAdmin(bytes32) public pure returns (bytes32) {
        return DEFAULT_ADMIN_ROLE;
    }

    /// @inheritdoc IAccessRoles
    function grantRole(bytes32 role, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _grantRole(role, account);
    }

    /// @inheritdoc IAccessRoles
    function revokeRole(bytes32 role, address account) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _revokeRole(role, account);
    }

    /// @inheritdoc IAccessRoles
    function renounceRole(bytes32 role, address callerConfirmation) external {
        if (callerConfirmation != msg.sender) {
            revert BadConfirmation(msg.sender, callerConfirmation);
        }
        _revokeRole(role, msg.sender);
    }

    function _checkRole(bytes32 role, address account) internal view {
        if (!_members[role][account]) {
            revert NotAuthorized(role, account);
        }
    }

    function _grantRole(bytes32 role, address account) internal {
        if (account == address(0)) {
            revert ZeroAddress();
        }
        if (!_members[role][account]) {
            _members[role][account] = true;
            emit RoleGranted(role, account, msg.sender);
        }
    }

    function _revokeRole(bytes32 role, address account) internal {
        if (_members[role][account]) {
            _members[role][account] = false;
            emit RoleRevoked(role, account, msg.sender);
        }
    }
}
