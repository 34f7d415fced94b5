// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Test-only hostile ERC-20: when armed, every transfer first calls `target` with
// `payload` (e.g. a second claim or settle into the channel contract) and records
// whether that re-entrant call succeeded. `exec` lets the token itself act as a
// channel's sender or receiver, so the re-entrant call comes from a party.

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;
    bool public armed;
    uint256 public attempts;
    uint256 public successes;
    bytes public lastRevert;

    constructor() ERC20("Hostile Token", "EVIL") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        armed = true;
    }

    /// Makes a call as this contract (so it can be a channel's sender or receiver).
    function exec(address to, bytes calldata data) external returns (bytes memory) {
        (bool ok, bytes memory ret) = to.call(data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (armed && from != address(0) && to != address(0)) {
            armed = false; // one attempt per arming, no infinite recursion
            attempts += 1;
            (bool ok, bytes memory ret) = target.call(payload);
            if (ok) successes += 1;
            else lastRevert = ret;
        }
        super._update(from, to, value);
    }
}
