// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// Unidirectional ERC-20 payment channels for wattstream: a driver (sender) locks a
// deposit for one receiver (a station's payee) and names a session key; the key (or
// the sender) signs EIP-712 vouchers over the cumulative amount; the receiver claims
// with its highest voucher, partially or finally, one channel or many per call; the
// sender can force a close after a challenge period fixed at deploy.
// Cost: open writes 5 storage slots (~160k gas with the token transfer); a claim
// is one ecrecover plus 1-2 slot writes; a batch claim makes one token transfer per
// run of equal tokens instead of one per channel.

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

/// @title Wattstream payment channels
/// @notice ERC-20 payment channels with session keys, cumulative EIP-712 vouchers,
///         partial/final/batch claims and a dispute-safe forced close.
/// @dev Vouchers: EIP-712 domain {name: "Wattstream", version: "1", chainId,
///      verifyingContract: this}, type `Voucher(bytes32 channelId,uint256 amount)`.
///      Only 65-byte r||s||v signatures with v in {27,28} and s <= n/2 are accepted.
contract WattstreamChannels is EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice keccak256("Voucher(bytes32 channelId,uint256 amount)")
    bytes32 public constant VOUCHER_TYPEHASH = keccak256("Voucher(bytes32 channelId,uint256 amount)");

    /// @notice Shortest challenge period accepted at deploy (seconds): a station must
    ///         have time to see a close request and answer it.
    uint256 public constant MIN_CHALLENGE_PERIOD = 1 hours;
    /// @notice Longest challenge period accepted at deploy (seconds), so funds are never locked for long.
    uint256 public constant MAX_CHALLENGE_PERIOD = 30 days;

    /// @notice Seconds between a sender's close request and the earliest settle.
    uint256 public immutable challengePeriod;

    /// @dev One channel. Packed in 5 slots; deleted when the channel closes.
    struct Channel {
        address sender; // slot 0; zero means "no such channel (never opened or closed)"
        uint64 closeRequestedAt; // slot 0; unix seconds of the sender's close request, 0 = none
        address receiver; // slot 1
        address token; // slot 2
        address sessionKey; // slot 3; may be zero: then only the sender's key signs
        uint128 deposit; // slot 4; total locked, in token base units
        uint128 claimed; // slot 4; total already paid to the receiver
    }

    /// @dev One entry of {claimMany}.
    struct Claim {
        bytes32 channelId;
        uint256 amount; // cumulative voucher amount
        bytes signature; // 65 bytes r||s||v
        bool close; // true: final claim, refund the rest to the sender
    }

    /// @notice Channels opened so far; the counter that makes channel ids unique.
    uint256 public channelCount;

    mapping(bytes32 channelId => Channel) private _channels;

    /// @notice A channel was opened.
    event ChannelOpened(
        bytes32 indexed channelId,
        address indexed sender,
        address indexed receiver,
        address token,
        address sessionKey,
        uint256 deposit
    );
    /// @notice The sender added `added` to the deposit, which is now `deposit`.
    event ChannelToppedUp(bytes32 indexed channelId, uint256 added, uint256 deposit);
    /// @notice The receiver was paid `paid`; `totalClaimed` is the cumulative amount paid.
    event Claimed(bytes32 indexed channelId, uint256 paid, uint256 totalClaimed);
    /// @notice The sender asked to close; the receiver may claim until it settles, at `settleAfter` at the earliest.
    event CloseRequested(bytes32 indexed channelId, uint256 settleAfter);
    /// @notice The channel is closed and deleted: `claimed` went to the receiver, `refunded` back to the sender.
    event ChannelClosed(bytes32 indexed channelId, uint256 claimed, uint256 refunded);

    error ZeroAddress();
    error ZeroDeposit();
    error SessionKeyIsReceiver();
    error DepositOverflow();
    error ChallengePeriodOutOfRange(uint256 given, uint256 min, uint256 max);
    error ChannelNotFound(bytes32 channelId);
    error NotSender(bytes32 channelId);
    error NotReceiver(bytes32 channelId);
    error ChannelClosing(bytes32 channelId);
    error CloseAlreadyRequested(bytes32 channelId);
    error CloseNotRequested(bytes32 channelId);
    error ChallengePeriodActive(bytes32 channelId, uint256 settleAfter);
    error InvalidVoucher(bytes32 channelId);
    error NothingToClaim(bytes32 channelId);
    error EmptyBatch();

    /// @param challengePeriod_ seconds between a close request and the earliest settle,
    ///        between MIN_CHALLENGE_PERIOD and MAX_CHALLENGE_PERIOD (deploy script default: 1 day)
    constructor(uint256 challengePeriod_) EIP712("Wattstream", "1") {
        if (challengePeriod_ < MIN_CHALLENGE_PERIOD || challengePeriod_ > MAX_CHALLENGE_PERIOD) {
            revert ChallengePeriodOutOfRange(challengePeriod_, MIN_CHALLENGE_PERIOD, MAX_CHALLENGE_PERIOD);
        }
        challengePeriod = challengePeriod_;
    }

    // ------------------------------------------------------------------ open / top up

    /// @notice Opens a channel from msg.sender to `receiver`, locking `amount` of `token`
    ///         (the caller must have approved this contract for at least `amount`).
    /// @param receiver who can claim (the station's payee); not zero
    /// @param token the ERC-20 token; not zero
    /// @param sessionKey the key that signs vouchers besides the sender's own; zero for none;
    ///        never the receiver
    /// @param amount deposit in token base units; the amount actually received is credited
    ///        (fee-on-transfer tokens credit less); must credit more than zero
    /// @return channelId the new channel's id, never used before on this contract and chain
    function open(address receiver, address token, address sessionKey, uint256 amount)
        external
        nonReentrant
        returns (bytes32 channelId)
    {
        return _open(receiver, token, sessionKey, amount);
    }

    /// @notice Like {open}, with an EIP-2612 permit of msg.sender for this contract
    ///         instead of a prior approve, in one transaction.
    /// @dev A permit that fails (e.g. front-run and already used) is ignored when the
    ///      allowance already suffices; otherwise the transfer reverts.
    /// @param receiver see {open}
    /// @param token see {open}; must implement EIP-2612
    /// @param sessionKey see {open}
    /// @param amount see {open}; also the permit's value
    /// @param deadline the permit's deadline (unix seconds)
    /// @param v the permit signature's v
    /// @param r the permit signature's r
    /// @param s the permit signature's s
    /// @return channelId the new channel's id
    function openWithPermit(
        address receiver,
        address token,
        address sessionKey,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (bytes32 channelId) {
        if (token == address(0)) revert ZeroAddress();
        try IERC20Permit(token).permit(msg.sender, address(this), amount, deadline, v, r, s) {} catch {}
        return _open(receiver, token, sessionKey, amount);
    }

    /// @notice Adds `amount` of the channel's token to its deposit. Only the sender,
    ///         only while no close is requested.
    /// @param channelId the channel
    /// @param amount tokens to add (after approve); the amount actually received is credited
    function topUp(bytes32 channelId, uint256 amount) external nonReentrant {
        Channel storage c = _channels[channelId];
        address sender = c.sender;
        if (sender == address(0)) revert ChannelNotFound(channelId);
        if (sender != msg.sender) revert NotSender(channelId);
        if (c.closeRequestedAt != 0) revert ChannelClosing(channelId);
        uint256 added = _pull(c.token, amount);
        uint256 deposit = uint256(c.deposit) + added;
        if (deposit > type(uint128).max) revert DepositOverflow();
        c.deposit = uint128(deposit);
        emit ChannelToppedUp(channelId, added, deposit);
    }

    // ------------------------------------------------------------------ claims

    /// @notice The receiver claims with a voucher: pays the receiver what the voucher
    ///         adds over what it already claimed (capped at the deposit).
    /// @param channelId the channel; msg.sender must be its receiver
    /// @param amount the voucher's cumulative amount; above the deposit it counts as the deposit
    /// @param signature 65-byte voucher signature by the session key or the sender
    /// @param close false: partial claim, the channel stays open (reverts if nothing new);
    ///        true: final claim, the rest goes back to the sender and the channel is deleted
    /// @return paid tokens paid to the receiver by this call
    function claim(bytes32 channelId, uint256 amount, bytes calldata signature, bool close)
        external
        nonReentrant
        returns (uint256 paid)
    {
        address token;
        (token, paid) = _claim(channelId, amount, signature, close);
        if (paid != 0) IERC20(token).safeTransfer(msg.sender, paid);
    }

    /// @notice Claims many channels of msg.sender (their receiver) in one call. Payments
    ///         to the receiver are summed per run of consecutive channels with the same
    ///         token and sent in one transfer each. All or nothing: any invalid entry reverts.
    /// @param claims the channels with their vouchers; see {claim} for each field
    /// @return total tokens paid to the receiver, all tokens added up
    function claimMany(Claim[] calldata claims) external nonReentrant returns (uint256 total) {
        uint256 n = claims.length;
        if (n == 0) revert EmptyBatch();
        address runToken;
        uint256 runSum;
        for (uint256 i = 0; i < n; ++i) {
            Claim calldata cl = claims[i];
            (address token, uint256 paid) = _claim(cl.channelId, cl.amount, cl.signature, cl.close);
            if (token != runToken) {
                if (runSum != 0) IERC20(runToken).safeTransfer(msg.sender, runSum);
                runToken = token;
                runSum = 0;
            }
            runSum += paid;
            total += paid;
        }
        if (runSum != 0) IERC20(runToken).safeTransfer(msg.sender, runSum);
    }

    // ------------------------------------------------------------------ disputes

    /// @notice The sender asks to close without the receiver. The receiver may still
    ///         claim (partially or finally) until the sender settles, which is possible
    ///         `challengePeriod` seconds after this call.
    /// @param channelId the channel; msg.sender must be its sender
    function requestClose(bytes32 channelId) external nonReentrant {
        Channel storage c = _channels[channelId];
        address sender = c.sender;
        if (sender == address(0)) revert ChannelNotFound(channelId);
        if (sender != msg.sender) revert NotSender(channelId);
        if (c.closeRequestedAt != 0) revert CloseAlreadyRequested(channelId);
        c.closeRequestedAt = uint64(block.timestamp);
        emit CloseRequested(channelId, block.timestamp + challengePeriod);
    }

    /// @notice After the challenge period of a close request, the sender takes back
    ///         the deposit not claimed; the channel is deleted.
    /// @param channelId the channel; msg.sender must be its sender
    /// @return refunded tokens sent back to the sender
    function settle(bytes32 channelId) external nonReentrant returns (uint256 refunded) {
        Channel storage c = _channels[channelId];
        address sender = c.sender;
        if (sender == address(0)) revert ChannelNotFound(channelId);
        if (sender != msg.sender) revert NotSender(channelId);
        uint256 at = c.closeRequestedAt;
        if (at == 0) revert CloseNotRequested(channelId);
        uint256 settleAfter = at + challengePeriod;
        if (block.timestamp < settleAfter) revert ChallengePeriodActive(channelId, settleAfter);
        address token = c.token;
        uint256 claimed = c.claimed;
        refunded = uint256(c.deposit) - claimed;
        delete _channels[channelId];
        emit ChannelClosed(channelId, claimed, refunded);
        if (refunded != 0) IERC20(token).safeTransfer(sender, refunded);
    }

    // ------------------------------------------------------------------ views

    /// @notice The channel's state; `sender == 0` means no open channel with this id.
    function getChannel(bytes32 channelId) external view returns (Channel memory) {
        return _channels[channelId];
    }

    /// @notice The id the `counter`-th channel (1-based) opened by `sender` gets:
    ///         keccak256(abi.encode(chainid, this, sender, counter)).
    function computeChannelId(address sender, uint256 counter) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), sender, counter));
    }

    /// @notice The EIP-712 domain separator of vouchers on this chain.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The EIP-712 digest a voucher signature signs.
    function voucherDigest(bytes32 channelId, uint256 amount) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VOUCHER_TYPEHASH, channelId, amount)));
    }

    /// @notice Who signed this voucher, by the contract's rules (65 bytes, v in {27,28},
    ///         low S, r and s in range); zero when the signature is not acceptable.
    function voucherSigner(bytes32 channelId, uint256 amount, bytes calldata signature)
        public
        view
        returns (address)
    {
        return _recover(voucherDigest(channelId, amount), signature);
    }

    /// @notice Whether a claim with this voucher would pass the signature check: the
    ///         channel is open and the signer is its session key or its sender.
    function isValidVoucher(bytes32 channelId, uint256 amount, bytes calldata signature)
        external
        view
        returns (bool)
    {
        Channel storage c = _channels[channelId];
        if (c.sender == address(0)) return false;
        address signer = voucherSigner(channelId, amount, signature);
        return signer != address(0) && (signer == c.sessionKey || signer == c.sender);
    }

    // ------------------------------------------------------------------ internals

    function _open(address receiver, address token, address sessionKey, uint256 amount)
        private
        returns (bytes32 channelId)
    {
        if (receiver == address(0) || token == address(0)) revert ZeroAddress();
        // a receiver holding the session key could sign itself the whole deposit
        if (sessionKey == receiver) revert SessionKeyIsReceiver();
        if (amount == 0) revert ZeroDeposit();
        if (amount > type(uint128).max) revert DepositOverflow();
        uint256 counter = channelCount + 1;
        channelCount = counter;
        channelId = computeChannelId(msg.sender, counter);
        uint256 received = _pull(token, amount);
        if (received == 0) revert ZeroDeposit();
        Channel storage c = _channels[channelId];
        c.sender = msg.sender;
        c.receiver = receiver;
        c.token = token;
        c.sessionKey = sessionKey;
        c.deposit = uint128(received);
        emit ChannelOpened(channelId, msg.sender, receiver, token, sessionKey, received);
    }

    /// @dev Moves `amount` from msg.sender and returns what this contract really received.
    function _pull(address token, uint256 amount) private returns (uint256) {
        if (amount == 0) revert ZeroDeposit();
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        return IERC20(token).balanceOf(address(this)) - before;
    }

    /// @dev Checks one claim and updates the channel; the caller pays `paid` of `token`
    ///      to msg.sender. Refunds of a final claim are sent here.
    function _claim(bytes32 channelId, uint256 amount, bytes calldata signature, bool close)
        private
        returns (address token, uint256 paid)
    {
        Channel storage c = _channels[channelId];
        address sender = c.sender;
        if (sender == address(0)) revert ChannelNotFound(channelId);
        if (c.receiver != msg.sender) revert NotReceiver(channelId);
        address signer = _recover(voucherDigest(channelId, amount), signature);
        if (signer == address(0) || (signer != c.sessionKey && signer != sender)) {
            revert InvalidVoucher(channelId);
        }
        token = c.token;
        paid = close ? _closeClaim(c, channelId, amount, sender, token) : _partialClaim(c, channelId, amount);
    }

    /// @dev What a voucher of `amount` adds over the claimed total, capped at the deposit.
    function _due(Channel storage c, uint256 amount) private view returns (uint256 deposit, uint256 claimed, uint256 paid) {
        deposit = c.deposit;
        claimed = c.claimed;
        uint256 capped = amount < deposit ? amount : deposit;
        if (capped > claimed) paid = capped - claimed;
    }

    function _partialClaim(Channel storage c, bytes32 channelId, uint256 amount) private returns (uint256 paid) {
        (, uint256 claimed, uint256 due) = _due(c, amount);
        if (due == 0) revert NothingToClaim(channelId);
        uint256 total = claimed + due;
        c.claimed = uint128(total);
        emit Claimed(channelId, due, total);
        return due;
    }

    function _closeClaim(Channel storage c, bytes32 channelId, uint256 amount, address sender, address token)
        private
        returns (uint256 paid)
    {
        (uint256 deposit, uint256 claimed, uint256 due) = _due(c, amount);
        uint256 total = claimed + due;
        uint256 refund = deposit - total;
        delete _channels[channelId];
        if (due != 0) emit Claimed(channelId, due, total);
        emit ChannelClosed(channelId, total, refund);
        if (refund != 0) IERC20(token).safeTransfer(sender, refund);
        return due;
    }

    /// @dev ecrecover with the acceptance rules; zero for any unacceptable signature.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address signer) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := calldataload(signature.offset)
            s := calldataload(add(signature.offset, 0x20))
            v := byte(0, calldataload(add(signature.offset, 0x40)))
        }
        if (v != 27 && v != 28) return address(0);
        (signer,,) = ECDSA.tryRecover(digest, v, r, s);
    }
}
