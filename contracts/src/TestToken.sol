// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// A test ERC-20 with EIP-2612 permit and an open faucet, for the demo, the tests and
// dev chains only: anyone can mint. Never deploy it where tokens have value.

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title Wattstream test token (tWATT)
/// @notice ERC-20 + EIP-2612 permit (domain name "Wattstream Test Token", version "1"),
///         6 decimals like common stablecoins, anyone may mint.
contract TestToken is ERC20, ERC20Permit {
    constructor() ERC20("Wattstream Test Token", "tWATT") ERC20Permit("Wattstream Test Token") {}

    /// @notice 6, like USDC, so prices in base units read as micro-units.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice Mints `amount` base units to `to` (test faucet: no access control).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
