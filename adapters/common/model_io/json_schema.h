// A validator for the subset of JSON Schema that deskpilot's model-backed adapters
// generate (no JSON Schema library is packaged for us). Servers that enforce
// structured output are trusted no more than those that do not: every answer is
// checked here before anything reads it.
//
// Supported keywords: type (object, array, string, number, integer, boolean, null),
// properties, required, additionalProperties (false only), enum (of strings or
// numbers), minimum, maximum, minLength, maxLength, items, minItems, maxItems,
// description (ignored). Any other keyword in the schema is an error rather than
// silently unchecked, so a schema can never promise more than the validator checks.
#pragma once

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

// OK when `value` matches `schema`; otherwise InvalidArgument naming the first
// problem by JSON path, e.g. "$.category.label: \"foo\" is not one of refund, none".
// The message quotes at most 40 bytes of the offending value.
Status ValidateJsonSchema(const nlohmann::json& schema, const nlohmann::json& value);

}  // namespace deskpilot
