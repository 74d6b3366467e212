@failure-mode @scenario-ca-compliant-device-loop
Feature: CA compliant device loop
  A CA policy demands a compliant device for All resources, including device registration itself; the join fails with AADSTS53000.
  Guide section: MFA or sign-in loops

  Scenario: CA compliant device loop: the symptom
    Given the scenario "ca-compliant-device-loop"
    When the user tries to join the PC as the scenario describes
    Then the sign-in page shows AADSTS53000
    When the user restarts the PC and signs in with the Entra account
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : NO"
    And the device is not joined
    And the device is not enrolled in Intune
    And the admin sees error 53000 in the sign-in log
    And portal.office.com sign-in fails with AADSTS53000

  Scenario: CA compliant device loop: the fix repairs it
    Given the scenario "ca-compliant-device-loop"
    When the user tries to join the PC as the scenario describes
    And the admin applies the scenario's fix
    And the user disconnects if needed and joins again
    And I run "dsregcmd /status"
    Then the output shows "AzureAdJoined : YES"
    And the device is joined
    And the device is enrolled in Intune
