// Virtual time: integer picoseconds. Nothing in the model reads the wall clock.
#pragma once
#include <cstdint>
#include <string>

namespace wizsim {

using ps_t = std::uint64_t;  // virtual time and durations, in picoseconds

constexpr ps_t ps_per_ns = 1'000;
constexpr ps_t ps_per_us = 1'000'000;
constexpr ps_t ps_per_ms = 1'000'000'000;
constexpr ps_t ps_per_s = 1'000'000'000'000;

constexpr ps_t ns(std::uint64_t v) { return v * ps_per_ns; }
constexpr ps_t us(std::uint64_t v) { return v * ps_per_us; }
constexpr ps_t ms(std::uint64_t v) { return v * ps_per_ms; }
constexpr ps_t seconds(std::uint64_t v) { return v * ps_per_s; }

constexpr ps_t never = ~ps_t{0};

// "12.345678ms" — the stamp used in the human log.
std::string format_time(ps_t t);

}  // namespace wizsim
