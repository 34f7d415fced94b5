// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

// The market: stations publish the tariff they sign (an EIP-712 Offer); wallets list
// live offers from the OfferPublished / OfferWithdrawn events and check the latest
// nonce per station here. Anyone may relay a signed offer (the station's board need
// not hold ether); only the station's signature makes it count.
// Cost: publish is one ecrecover, hashing two strings, 2 slot writes and one event
// carrying the whole offer (~56k gas for an update, ~90k for a station's first).

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title Wattstream offer registry
/// @notice Stations publish signed charging offers; a higher nonce supersedes.
/// @dev EIP-712 domain {name: "Wattstream Offers", version: "1", chainId,
///      verifyingContract: this}. Type string: see OFFER_TYPEHASH.
contract OfferRegistry is EIP712 {
    /// @notice A station's charging offer, exactly the EIP-712 struct it signs.
    struct Offer {
        address station; // the station key (signer of offers and receipts)
        address payee; // channel receiver the station is paid to
        address token; // ERC-20 the price is in
        uint256 pricePerKWh; // token base units per kWh (1000 Wh)
        uint32 incrementWh; // energy bought by one voucher step, Wh
        uint32 prepaidIncrements; // increments the wallet pays ahead, >= 1
        uint32 graceSeconds; // seconds without payment before the session stops
        uint64 validFrom; // unix seconds, inclusive
        uint64 validUntil; // unix seconds, exclusive; > validFrom
        string location; // location hint: geohash (base32, 1..12 chars) or empty
        string endpoint; // URI of the station's wallet endpoint, e.g. wss://host/wallet
        uint64 nonce; // strictly increasing per station; a higher one supersedes
    }

    /// @notice keccak256 of the Offer type string.
    bytes32 public constant OFFER_TYPEHASH = keccak256(
        "Offer(address station,address payee,address token,uint256 pricePerKWh,uint32 incrementWh,"
        "uint32 prepaidIncrements,uint32 graceSeconds,uint64 validFrom,uint64 validUntil,"
        "string location,string endpoint,uint64 nonce)"
    );

    /// @notice Longest location hint accepted, in bytes.
    uint256 public constant MAX_LOCATION_BYTES = 12;
    /// @notice Longest endpoint URI accepted, in bytes.
    uint256 public constant MAX_ENDPOINT_BYTES = 256;

    /// @dev What the registry keeps of a station's latest offer (2 slots).
    struct Latest {
        uint64 nonce; // latest nonce published or withdrawn
        uint64 validUntil; // of the latest offer; 0 once withdrawn
        bytes32 offerHash; // EIP-712 struct hash of the latest offer; 0 once withdrawn
    }

    mapping(address station => Latest) private _latest;

    /// @notice A station published `offer`, superseding any with a lower nonce.
    event OfferPublished(
        address indexed station, address indexed payee, address indexed token, bytes32 offerHash, Offer offer
    );
    /// @notice The station withdrew its offers up to and including `nonce`.
    event OfferWithdrawn(address indexed station, uint64 nonce);

    error ZeroAddress();
    error InvalidOfferSignature();
    error StaleNonce(uint64 nonce, uint64 latest);
    error InvalidTerms();
    error InvalidValidity(uint64 validFrom, uint64 validUntil);
    error FieldTooLong();

    constructor() EIP712("Wattstream Offers", "1") {}

    /// @notice Publishes a station-signed offer; anyone may relay it.
    /// @param offer the offer; its nonce must exceed the station's latest
    /// @param signature 65-byte r||s||v by `offer.station` over the EIP-712 digest (low S, v in {27,28})
    /// @return offerHash the offer's EIP-712 struct hash
    function publish(Offer calldata offer, bytes calldata signature) external returns (bytes32 offerHash) {
        if (offer.station == address(0) || offer.payee == address(0) || offer.token == address(0)) {
            revert ZeroAddress();
        }
        if (offer.pricePerKWh == 0 || offer.incrementWh == 0 || offer.prepaidIncrements == 0) {
            revert InvalidTerms();
        }
        if (offer.validUntil <= offer.validFrom || offer.validUntil <= block.timestamp) {
            revert InvalidValidity(offer.validFrom, offer.validUntil);
        }
        if (bytes(offer.location).length > MAX_LOCATION_BYTES || bytes(offer.endpoint).length == 0
            || bytes(offer.endpoint).length > MAX_ENDPOINT_BYTES) {
            revert FieldTooLong();
        }
        offerHash = hashOffer(offer);
        if (_recover(_hashTypedDataV4(offerHash), signature) != offer.station) revert InvalidOfferSignature();
        Latest storage l = _latest[offer.station];
        if (offer.nonce <= l.nonce) revert StaleNonce(offer.nonce, l.nonce);
        l.nonce = offer.nonce;
        l.validUntil = offer.validUntil;
        l.offerHash = offerHash;
        emit OfferPublished(offer.station, offer.payee, offer.token, offerHash, offer);
    }

    /// @notice The station (msg.sender) withdraws its live offer; offers signed with a
    ///         nonce up to `nonce` can no longer be published.
    /// @param nonce must exceed the latest nonce
    function withdraw(uint64 nonce) external {
        Latest storage l = _latest[msg.sender];
        if (nonce <= l.nonce) revert StaleNonce(nonce, l.nonce);
        l.nonce = nonce;
        l.validUntil = 0;
        l.offerHash = bytes32(0);
        emit OfferWithdrawn(msg.sender, nonce);
    }

    /// @notice The station's latest nonce, the validUntil and struct hash of its latest offer
    ///         (zeros once withdrawn). An offer is live when its hash is here and
    ///         block.timestamp < validUntil.
    function latest(address station) external view returns (uint64 nonce, uint64 validUntil, bytes32 offerHash) {
        Latest storage l = _latest[station];
        return (l.nonce, l.validUntil, l.offerHash);
    }

    /// @notice Whether `offer` is the station's latest offer and valid at this block.
    function isLive(Offer calldata offer) external view returns (bool) {
        Latest storage l = _latest[offer.station];
        return l.offerHash != bytes32(0) && l.offerHash == hashOffer(offer) && block.timestamp >= offer.validFrom
            && block.timestamp < offer.validUntil;
    }

    /// @notice The EIP-712 struct hash of an offer (strings hashed with keccak256).
    function hashOffer(Offer calldata o) public pure returns (bytes32) {
        return keccak256(
            abi.encode(
                OFFER_TYPEHASH,
                o.station,
                o.payee,
                o.token,
                o.pricePerKWh,
                o.incrementWh,
                o.prepaidIncrements,
                o.graceSeconds,
                o.validFrom,
                o.validUntil,
                keccak256(bytes(o.location)),
                keccak256(bytes(o.endpoint)),
                o.nonce
            )
        );
    }

    /// @notice The EIP-712 digest the station signs for `offer`.
    function offerDigest(Offer calldata offer) external view returns (bytes32) {
        return _hashTypedDataV4(hashOffer(offer));
    }

    /// @notice Who signed `offer` by the registry's rules; zero when the signature is not acceptable.
    function offerSigner(Offer calldata offer, bytes calldata signature) external view returns (address) {
        return _recover(_hashTypedDataV4(hashOffer(offer)), signature);
    }

    /// @notice The EIP-712 domain separator of offers on this chain.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @dev Same rules as the channels' vouchers: 65 bytes, v in {27,28}, low S.
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
