#pragma once
// The three-digit `err` of the receipts the routing stages decide themselves
// (schema::internal_receipt), so a customer can tell them apart.
namespace sluice::routing {

inline constexpr const char* kErrExpired = "000";     // validity passed (as the sender uses)
inline constexpr const char* kErrNoRoute = "001";     // no route, or no enabled provider
inline constexpr const char* kErrIncomplete = "002";  // multipart message never completed

}  // namespace sluice::routing
