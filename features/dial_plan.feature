Feature: The dial plan autoregistered phones get
  Do not enable autoregistration without knowing the dial plan: partitions,
  route patterns (Cisco digit patterns), and calling search spaces, each an
  ordered list of partitions. Autoregistered phones get the autoregistration
  calling search space (checklist step 4). A Rogue device pool that allows only
  911 (emergency) and 0 (operator) lets unknown phones register but limits
  them to emergency and operator calls. A number may be dialled when the
  closest match among the route patterns and directory numbers of the calling
  search space's partitions routes the call.

  Background:
    Given the sample cluster

  Scenario: The autoregistration calling search space limits new phones to internal calls
    Given autoregistration is open by "alice" because "bulk add"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    And phone SEP00112233AABC of model 7961 registers over SCCP from 10.0.0.6
    Then device SEP00112233AABB may dial 1001, 911 and 0 but not 1002, 95551234, 914085551234 or 9011441234567
    And device SEP00112233AABB reaches 1001 through "1001" in partition "Internal"
    And device SEP00112233AABB reaches 911 through "911" in partition "Emergency"

  Scenario: The rogue device pool made the autoregistration default allows 911 and 0 and nothing else
    Given "alice" adds partition "Rogue_PT"
    And "alice" adds route pattern "911" to partition "Rogue_PT"
    And "alice" adds route pattern "0" to partition "Rogue_PT"
    And "alice" configures calling search space "Rogue_CSS" as "Rogue_PT"
    And "alice" configures device pool "Rogue" with group "Default" and calling search space "Rogue_CSS"
    And "alice" makes device pool "Rogue" the cluster default
    And "alice" sets the autoregistration calling search space to "Rogue_CSS"
    And autoregistration is open by "alice" because "rogue phones trap"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    And phone SEP00112233AABB is in device pool "Rogue" with calling search space "Rogue_CSS"
    When phone SEP00112233AABC of model 7940 registers over SCCP from 10.0.0.6
    Then it is given directory number 1001
    And device SEP00112233AABB may dial 911 and 0 but not 1001, 1000, 00, 9911, 9111, 411, 95551234, 914085551234 or 9011441234567
    And device SEP00112233AABC may dial 911 and 0 but not 1000, 95551234 or 5551234

  Scenario: Without an autoregistration calling search space, the rogue pool's own applies
    Given "alice" adds partition "Rogue_PT"
    And "alice" adds route pattern "911" to partition "Rogue_PT"
    And "alice" adds route pattern "0" to partition "Rogue_PT"
    And "alice" configures calling search space "Rogue_CSS" as "Rogue_PT"
    And "alice" configures device pool "Rogue" with group "Default" and calling search space "Rogue_CSS"
    And "alice" makes device pool "Rogue" the cluster default
    And "alice" sets the autoregistration calling search space to ""
    And autoregistration is open by "alice" because "rogue phones trap"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    And phone SEP00112233AABB is in device pool "Rogue" with no calling search space of its own
    And device SEP00112233AABB may dial 911 and 0 but not 5551234, 95551234 or 1000

  Scenario: The closest match wins: the blocked premium-rate pattern beats long distance
    Given "alice" provisions phone SEP0000000000D1 of model 7961 with directory number 2000 in device pool "HQ"
    Then device SEP0000000000D1 may dial 95551234, 914085551234, 9011441234567, 911 and 0 but not 919005551234, 95, 91555 or 5551234
    And device SEP0000000000D1 reaches 914085551234 through "9.1[2-9]XX[2-9]XXXXXX" in partition "PSTN"
    And device SEP0000000000D1 reaches 2000 through "2000" in partition "Internal"

  Scenario: Calling search spaces are ordered: between equally close matches the first partition wins
    Given "alice" adds partition "Allow_PT"
    And "alice" adds partition "Deny_PT"
    And "alice" adds route pattern "8XXX" to partition "Allow_PT"
    And "alice" adds blocking route pattern "8XXX" to partition "Deny_PT"
    And "alice" configures calling search space "AllowFirst" as "Allow_PT", "Deny_PT"
    And "alice" configures calling search space "DenyFirst" as "Deny_PT", "Allow_PT"
    And "alice" provisions phone SEP0000000000D1 of model 7961 with directory number 2001 with calling search space "AllowFirst"
    And "alice" provisions phone SEP0000000000D2 of model 7961 with directory number 2002 with calling search space "DenyFirst"
    Then device SEP0000000000D1 may dial 8123
    And device SEP0000000000D2 may not dial 8123

  Scenario Outline: Cisco digit patterns: literals, X, [ranges], !, ? and +
    Given "alice" adds partition "Lab"
    And "alice" adds route pattern "<pattern>" to partition "Lab"
    And "alice" configures calling search space "Lab_CSS" as "Lab"
    And "alice" provisions phone SEP0000000000D1 of model 7961 with directory number 2000 with calling search space "Lab_CSS"
    Then device SEP0000000000D1 may dial <allowed> but not <refused>

    Examples:
      | pattern   | allowed              | refused             |
      | 911       | 911                  | 9111, 91, 912       |
      | 5XXX      | 5000, 5999           | 500, 50000, 6000    |
      | 5[2-4]XX  | 5200, 5399, 5499     | 5100, 5500          |
      | 5[^2-4]XX | 5100, 5599           | 5200, 5400          |
      | 5[137]XX  | 5100, 5300, 5799     | 5200, 5800          |
      | 9.!       | 91, 9011441234567    | 9, 8123             |
      | *67X      | *671                 | *67, 671            |
      | 8[2-9]X+  | 821, 8291234         | 82, 811             |
      | 7X?       | 7, 71, 7123          | 8, 67               |

  Scenario: A phone that Device Defaults send to the rogue pool dials with the rogue pool's calling search space, not the autoregistration one
    Given "alice" adds partition "Rogue_PT"
    And "alice" adds route pattern "911" to partition "Rogue_PT"
    And "alice" adds route pattern "0" to partition "Rogue_PT"
    And "alice" configures calling search space "Rogue_CSS" as "Rogue_PT"
    And "alice" configures device pool "Rogue" with group "Default" and calling search space "Rogue_CSS"
    And "alice" sets the Device Defaults of model 7902 to load "CP7902080002SCCP060817A" for SCCP and "" for SIP with device pool "Rogue"
    And autoregistration is open by "alice" because "bulk add"
    When phone SEP00112233AABB of model 7902 registers over SCCP from 10.0.0.5
    Then it is given directory number 1000
    And phone SEP00112233AABB is in device pool "Rogue" with calling search space ""
    When phone SEP00112233AABC of model 7961 registers over SCCP from 10.0.0.6
    Then it is given directory number 1001
    And device SEP00112233AABB may dial 911 and 0 but not 1001, 95551234 or 914085551234
    And device SEP00112233AABC may dial 1000, 911 and 0 but not 95551234
