#include "common/model_io/json_schema.h"

#include <set>
#include <string>

namespace deskpilot {
namespace {

using nlohmann::json;

const std::set<std::string>& KnownKeywords() {
  static const std::set<std::string> k = {"type",      "properties", "required",  "additionalProperties",
                                          "enum",      "minimum",    "maximum",   "minLength",
                                          "maxLength", "items",      "minItems",  "maxItems",
                                          "description"};
  return k;
}

// Quotes a value for an error message without copying a whole model answer into it.
std::string Quote(const json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

bool HasType(const json& v, const std::string& type) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "number") return v.is_number();
  if (type == "integer") return v.is_number_integer() || v.is_number_unsigned();
  if (type == "boolean") return v.is_boolean();
  if (type == "null") return v.is_null();
  return false;
}

// Counts code points, not bytes: a length cap in the schema is about characters.
size_t Utf8Length(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++n;
  return n;
}

Status Validate(const json& schema, const json& v, const std::string& path) {
  if (!schema.is_object()) return Status::InvalidArgument(path + ": schema is not an object");
  for (const auto& [key, unused] : schema.items()) {
    if (!KnownKeywords().contains(key)) {
      return Status::InvalidArgument(path + ": schema keyword \"" + key + "\" is not supported");
    }
  }
  if (auto t = schema.find("type"); t != schema.end()) {
    if (!t->is_string()) return Status::InvalidArgument(path + ": schema type must be a string");
    if (!HasType(v, t->get<std::string>())) {
      return Status::InvalidArgument(path + ": expected " + t->get<std::string>() + ", got " + Quote(v));
    }
  }
  if (auto e = schema.find("enum"); e != schema.end()) {
    bool found = false;
    for (const auto& x : *e) found = found || x == v;
    if (!found) {
      std::string allowed;
      for (const auto& x : *e) allowed += (allowed.empty() ? "" : ", ") + (x.is_string() ? x.get<std::string>() : x.dump());
      return Status::InvalidArgument(path + ": " + Quote(v) + " is not one of " + allowed);
    }
  }
  if (v.is_number()) {
    const double d = v.get<double>();
    if (auto m = schema.find("minimum"); m != schema.end() && d < m->get<double>())
      return Status::InvalidArgument(path + ": " + Quote(v) + " is below the minimum " + m->dump());
    if (auto m = schema.find("maximum"); m != schema.end() && d > m->get<double>())
      return Status::InvalidArgument(path + ": " + Quote(v) + " is above the maximum " + m->dump());
  }
  if (v.is_string()) {
    const size_t n = Utf8Length(v.get<std::string>());
    if (auto m = schema.find("minLength"); m != schema.end() && n < m->get<size_t>())
      return Status::InvalidArgument(path + ": shorter than " + m->dump() + " characters");
    if (auto m = schema.find("maxLength"); m != schema.end() && n > m->get<size_t>())
      return Status::InvalidArgument(path + ": longer than " + m->dump() + " characters");
  }
  if (v.is_array()) {
    if (auto m = schema.find("minItems"); m != schema.end() && v.size() < m->get<size_t>())
      return Status::InvalidArgument(path + ": fewer than " + m->dump() + " items");
    if (auto m = schema.find("maxItems"); m != schema.end() && v.size() > m->get<size_t>())
      return Status::InvalidArgument(path + ": more than " + m->dump() + " items");
    if (auto items = schema.find("items"); items != schema.end()) {
      for (size_t i = 0; i < v.size(); ++i) {
        DP_RETURN_IF_ERROR(Validate(*items, v[i], path + "[" + std::to_string(i) + "]"));
      }
    }
  }
  if (v.is_object()) {
    const json empty = json::object();
    auto props_it = schema.find("properties");
    const json& props = props_it != schema.end() ? *props_it : empty;
    if (auto req = schema.find("required"); req != schema.end()) {
      for (const auto& name : *req) {
        if (!v.contains(name.get<std::string>()))
          return Status::InvalidArgument(path + ": missing required key \"" + name.get<std::string>() + "\"");
      }
    }
    auto extra = schema.find("additionalProperties");
    if (extra != schema.end() && !(extra->is_boolean() && !extra->get<bool>())) {
      return Status::InvalidArgument(path + ": only additionalProperties=false is supported");
    }
    for (const auto& [key, value] : v.items()) {
      auto p = props.find(key);
      if (p == props.end()) {
        if (extra != schema.end()) {
          std::string shown = key.size() > 40 ? key.substr(0, 37) + "..." : key;
          return Status::InvalidArgument(path + ": unexpected key \"" + shown + "\"");
        }
        continue;
      }
      DP_RETURN_IF_ERROR(Validate(*p, value, path + "." + key));
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidateJsonSchema(const nlohmann::json& schema, const nlohmann::json& value) {
  try {
    return Validate(schema, value, "$");
  } catch (const json::exception& e) {
    // A malformed schema (e.g. "minimum": "x"): our bug, not the model's.
    return Status::Internal(std::string("json schema: ") + e.what());
  }
}

}  // namespace deskpilot
