Feature: Cluster configuration for autoregistration
  Autoregistration depends on the cluster's topology: the CallManagers, the
  CallManager groups (one flagged as the Auto-registration CallManager Group),
  partitions, route patterns, calling search spaces, device pools and Device
  Defaults. Cisco CallManager disables autoregistration by default.

  "The sample cluster" is configured by "admin" following the checklist:
  CallManagers CM1 (autoregistration enabled) and CM2 (disabled); groups
  "Default" (CM1, CM2), flagged for autoregistration, and "HQ-Group" (CM2,
  CM1); partitions Internal, PSTN and Emergency; 911 and 0 in Emergency;
  9.[2-9]XXXXXX, 9.1[2-9]XX[2-9]XXXXXX, 9.011! and the blocked 9.1900XXXXXXX
  in PSTN; calling search spaces AutoReg_CSS (Internal, Emergency) and HQ_CSS
  (Internal, PSTN, Emergency); device pools "Default" (the cluster default,
  group Default, AutoReg_CSS) and "HQ" (HQ-Group, HQ_CSS); AutoReg_CSS as
  the autoregistration calling search space; the range 1000 through 1099 in
  partition Internal.

  Scenario: A new registrar has autoregistration off
    Given an empty registrar
    Then autoregistration is closed
    And the autoregistration protocol is SCCP
    And the cluster security mode is nonsecure
    And the registrar reports the problem "no autoregistration range is configured"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed
    And phone SEP00112233AABB is unknown

  Scenario: The sample cluster is ready, but autoregistration stays off until opened
    Given the sample cluster
    Then autoregistration is closed
    And the registrar reports no problem
    And CallManager "CM1" has autoregistration enabled
    And CallManager "CM2" has autoregistration disabled
    And the autoregistration group is "Default"
    And group "Default" lists "CM1", "CM2"
    And calling search space "AutoReg_CSS" lists "Internal", "Emergency"
    When phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is refused because the window is closed

  Scenario: A CallManager added without ticking the box has autoregistration disabled
    Given the sample cluster
    When "alice" adds CallManager "CM3" described as "new subscriber"
    Then the change is accepted
    And CallManager "CM3" has autoregistration disabled
    And the registrar reports no problem

  Scenario: Building the minimum for autoregistration from nothing
    Given an empty registrar
    When "alice" adds partition "Internal"
    And "alice" sets the autoregistration range to 2000 through 2009 in partition "Internal"
    And "alice" opens autoregistration because "first phones"
    Then the change is refused because autoregistration is misconfigured
    And the refusal says "no CallManager group is flagged"
    When "alice" configures CallManager "CM1" with autoregistration enabled
    And "alice" configures CallManager group "Default" with "CM1"
    And "alice" flags group "Default" as the autoregistration group
    And "alice" configures device pool "Default" with group "Default"
    And "alice" makes device pool "Default" the cluster default
    Then the registrar reports no problem
    When "alice" opens autoregistration because "first phones"
    And phone SEP00112233AABB of model 7961 registers over SCCP from 10.0.0.5
    Then it is given directory number 2000
    And phone SEP00112233AABB is in device pool "Default" with no calling search space of its own
    And every administrative change in the history names who made it

  Scenario: Autoregistration needs a default device pool for the phones it adds
    Given an empty registrar
    When "alice" adds partition "Internal"
    And "alice" sets the autoregistration range to 2000 through 2009 in partition "Internal"
    And "alice" configures CallManager "CM1" with autoregistration enabled
    And "alice" configures CallManager group "Default" with "CM1"
    And "alice" flags group "Default" as the autoregistration group
    And "alice" opens autoregistration because "first phones"
    Then the change is refused because autoregistration is misconfigured
    And the refusal says "no default device pool"

  Scenario: A CallManager group keeps its CallManagers in priority order
    Given the sample cluster
    When "alice" configures CallManager group "Branch" with "CM2", "CM1"
    Then the change is accepted
    And group "Branch" lists "CM2", "CM1"
    And the history records "cluster.group_configured" by "alice"

  Scenario: At least one CallManager must be selected in a group
    Given the sample cluster
    When "alice" configures CallManager group "Empty" with no CallManager
    Then the change is refused because it is invalid
    And the refusal says "at least one CallManager must be selected"
    When "alice" configures CallManager group "Ghosts" with "CM9"
    Then the change is refused because it names something that is missing, naming "CM9"

  Scenario: Flagging one group as the autoregistration group clears the flag on the other
    Given the sample cluster
    When "alice" flags group "HQ-Group" as the autoregistration group
    Then the autoregistration group is "HQ-Group"
    And the history records "cluster.autoreg_group_set" by "alice"
    And the registrar reports the problem "CM2, first in the autoregistration group"
    When "alice" flags group "Default" as the autoregistration group
    Then the autoregistration group is "Default"
    And the registrar reports no problem

  Scenario: The first CallManager of the autoregistration group must have autoregistration enabled
    Given the sample cluster
    And "alice" configures CallManager group "Default" with "CM2", "CM1"
    When "alice" opens autoregistration because "bulk add"
    Then the change is refused because autoregistration is misconfigured, naming "CM2"
    And the refusal says "uncheck it"
    And autoregistration is closed
    And the history records no "autoregistration.window_opened"

  Scenario: Only one CallManager in the cluster may have autoregistration enabled
    Given the sample cluster
    And "alice" configures CallManager "CM3" with autoregistration enabled
    When "alice" opens autoregistration because "bulk add"
    Then the change is refused because autoregistration is misconfigured, naming "CM3"
    And the refusal says "disable autoregistration on CM3"
    When "alice" configures CallManager "CM3" with autoregistration disabled
    And "alice" opens autoregistration because "bulk add"
    Then the change is accepted
    And autoregistration is open

  Scenario: Shifting autoregistration to another CallManager (checklist step 2)
    Given the sample cluster
    When "alice" configures CallManager "CM2" with autoregistration enabled
    And "alice" configures CallManager "CM1" with autoregistration disabled
    Then the registrar reports the problem "CM1, first in the autoregistration group"
    When "alice" flags group "HQ-Group" as the autoregistration group
    And "alice" opens autoregistration because "autoregistration now on CM2"
    Then the change is accepted
    And the open window is W1, opened by "alice" because "autoregistration now on CM2"

  Scenario: Route patterns are Cisco digit patterns in existing partitions
    Given the sample cluster
    When "alice" adds route pattern "9.[2-9" to partition "PSTN"
    Then the change is refused because it is invalid
    And the refusal says "never closed"
    When "alice" adds route pattern "9.1A00" to partition "PSTN"
    Then the change is refused because it is invalid
    When "alice" adds route pattern "8.XXXX" to partition "Branch"
    Then the change is refused because it names something that is missing, naming "Branch"
    When "alice" adds route pattern "8.[2-9]XXX" to partition "PSTN"
    Then the change is accepted
    And the history records "cluster.route_pattern_added" by "alice"

  Scenario: Calling search spaces are ordered lists of existing partitions
    Given the sample cluster
    When "alice" configures calling search space "Lobby_CSS" as "Emergency", "Internal"
    Then calling search space "Lobby_CSS" lists "Emergency", "Internal"
    When "alice" configures calling search space "Broken_CSS" as "Internal", "Nowhere"
    Then the change is refused because it names something that is missing, naming "Nowhere"
    When "alice" removes partition "Emergency"
    Then the change is refused because it is in use
    And the refusal says "AutoReg_CSS"

  Scenario: Device pools name existing groups, and the default pool exists
    Given the sample cluster
    When "alice" configures device pool "Branch" with group "Branch-Group"
    Then the change is refused because it names something that is missing, naming "Branch-Group"
    When "alice" makes device pool "Branch" the cluster default
    Then the change is refused because it names something that is missing, naming "Branch"

  Scenario: Device Defaults exist only for catalogued models and existing pools
    Given the sample cluster
    When "alice" sets the Device Defaults of model 1234 to load "X" for SCCP and "Y" for SIP
    Then the change is refused because it names something that is missing, naming "1234"
    When "alice" sets the Device Defaults of model 7961 to load "SCCP41.9-4-2SR3-1S" for SCCP and "SIP41.9-4-2SR3-1S" for SIP with device pool "Nowhere"
    Then the change is refused because it names something that is missing, naming "Nowhere"

  Scenario: Every administrative change names who made it
    Given the sample cluster
    When "bob" sets the autoregistration protocol to SIP
    And "carol" adds partition "Lab"
    And "alice" opens autoregistration for 30 minutes because "lab phones"
    And "dave" closes autoregistration because "lab done"
    Then the history records "cluster.protocol_set" by "bob"
    And the history records "cluster.partition_added" by "carol"
    And the history records "autoregistration.window_opened" by "alice"
    And the history records "autoregistration.window_closed" by "dave"
    And every administrative change in the history names who made it

  Scenario: An administrative change must name who makes it
    Given the sample cluster
    When "" sets the autoregistration protocol to SIP
    Then the change is refused because it is invalid
    And the refusal says "must name who makes it"
    And nothing new is recorded
